/**
 * `assertion.keys` read at start (CONTRACT.md §11): each an unencrypted EC P-256 private key in
 * PEM (PKCS#8 or SEC1), or a configuration error naming the key and the file — never its content.
 */
import { readFileSync } from 'node:fs'
import { createPrivateKey, type KeyObject } from 'node:crypto'
import type { Config } from '../config/schema.js'
import { ConfigError } from '../config/validation.js'
import type { AssertionKey } from './signer.js'

export function loadAssertionKeys (assertion: Config['assertion']): AssertionKey[] {
  const problems: string[] = []
  const keys: AssertionKey[] = []
  assertion.keys.forEach(({ kid, privateKeyFile }, i) => {
    const at = `assertion.keys[${i}].privateKeyFile`
    let pem: string
    try {
      pem = readFileSync(privateKeyFile, 'utf8')
    } catch (err) {
      problems.push(`${at}: cannot read ${privateKeyFile} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
      return
    }
    let key: KeyObject
    try {
      key = createPrivateKey(pem)
    } catch {
      problems.push(`${at}: ${privateKeyFile} holds no unencrypted PEM private key`)
      return
    }
    const details = key.asymmetricKeyDetails
    if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
      problems.push(`${at}: ${privateKeyFile} is a${key.asymmetricKeyType === 'ec' ? `n EC ${details?.namedCurve ?? ''}` : ` ${key.asymmetricKeyType ?? 'unknown'}`} key; ES256 needs EC P-256 (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)`)
      return
    }
    keys.push({ kid, privateKey: key })
  })
  if (problems.length > 0) throw new ConfigError(problems)
  return keys
}
