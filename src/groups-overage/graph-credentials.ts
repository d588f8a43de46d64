/**
 * How the gateway proves itself to the token endpoint when it asks for a Graph token
 * (CONTRACT.md §13, §14 "Secrets from files", §15 "Graph without a secret"): exactly one of
 * - `clientSecret`, inline (usually `"${GRAPH_SECRET}"`);
 * - `clientSecretFile`, read at start and again for every token request, so a rotated Secret
 *   volume takes effect without a restart;
 * - `clientCertificate: { certFile, keyFile }`, a `private_key_jwt` client assertion signed with
 *   the key of a certificate registered on the app (Entra "certificate credentials"); both files
 *   are read again for every token request, so a renewed certificate needs no restart either;
 * - `federatedTokenFile`, Azure Workload Identity: the projected service-account token, which
 *   the kubelet renews on disk, read for every token request and sent as the client assertion.
 *   When none of the four is configured, `$AZURE_FEDERATED_TOKEN_FILE` (set by the workload
 *   identity webhook) stands for it; a configured credential always wins over the variable.
 * No message made here holds a secret, a key or an assertion: only config keys, paths and the
 * certificate's thumbprint, which Entra shows in the app registration anyway.
 */
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { constants, createHash, createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto'
import { ConfigError } from '../config/validation.js'

export const GRAPH_CREDENTIAL_KEYS = ['clientSecret', 'clientSecretFile', 'clientCertificate', 'federatedTokenFile'] as const
export type GraphCredentialKey = typeof GRAPH_CREDENTIAL_KEYS[number]

/** Set by the Azure Workload Identity webhook in every pod whose service account uses it. */
export const FEDERATED_TOKEN_FILE_ENV = 'AZURE_FEDERATED_TOKEN_FILE'
/** RFC 7523 §2.2; Entra takes both a certificate's assertion and a federated token under it. */
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
/**
 * Entra: "exp … 5-10 minutes after nbf at most" (certificate-credentials, Claims). Each
 * assertion is used once, for one token request, so the short end is enough.
 */
const ASSERTION_LIFETIME_SEC = 300
/** Entra refuses a weaker RSA key (AADSTS50032 WeakRsaKey). */
const MIN_RSA_BITS = 2048

export interface GraphCredentialOptions {
  clientId: string
  clientSecret?: string | undefined
  clientSecretFile?: string | undefined
  clientCertificate?: { certFile: string, keyFile: string } | undefined
  federatedTokenFile?: string | undefined
}

export interface GraphCredentials {
  readonly key: GraphCredentialKey
  /** For an operator (`check`): the kind and which one, e.g. `client certificate (x5t#S256 …)`. */
  readonly description: string
  /** For a refusal's message (it reaches API callers): the config key, and a thumbprint. */
  readonly named: string
  /** The form fields that authenticate one token request to `tokenUrl`: files read afresh, a new assertion each time. */
  authenticate (tokenUrl: string): Promise<Record<string, string>>
}

/** Which credential `graph` names; undefined when none (the cross-checks allow exactly one). */
function graphCredentialKeyOf (graph: GraphCredentialOptions): GraphCredentialKey | undefined {
  return GRAPH_CREDENTIAL_KEYS.find((key) => graph[key] !== undefined)
}

/**
 * The env default, applied once at config load (config/load.ts), never by the running gateway:
 * with no credential configured, `$AZURE_FEDERATED_TOKEN_FILE` becomes `federatedTokenFile`.
 * True when it did.
 */
export function applyFederatedTokenDefault (graph: GraphCredentialOptions | undefined, env: NodeJS.ProcessEnv): boolean {
  const path = env[FEDERATED_TOKEN_FILE_ENV]
  if (graph === undefined || graphCredentialKeyOf(graph) !== undefined || path === undefined || path === '') return false
  graph.federatedTokenFile = path
  return true
}

/**
 * The start-time read (config/load.ts): every problem with the configured credential's files as
 * `path: message`, naming the file — a missing or unreadable one is a configuration error.
 */
export function graphCredentialProblems (graph: GraphCredentialOptions, { federatedFromEnv = false } = {}): string[] {
  const at = 'entra.graph'
  const readProblem = (key: string, path: string): string | undefined => {
    try {
      return readFileSync(path, 'utf8').trim() === '' ? `${at}.${key}: ${path} is empty` : undefined
    } catch (err) {
      return `${at}.${key}: cannot read ${path} (${errorCode(err)})${key === 'federatedTokenFile' && federatedFromEnv ? `, the path ${FEDERATED_TOKEN_FILE_ENV} names` : ''}`
    }
  }
  if (graph.clientSecretFile !== undefined) return [readProblem('clientSecretFile', graph.clientSecretFile)].filter(isString)
  if (graph.federatedTokenFile !== undefined) return [readProblem('federatedTokenFile', graph.federatedTokenFile)].filter(isString)
  if (graph.clientCertificate !== undefined) {
    const { certFile, keyFile } = graph.clientCertificate
    const unreadable = [readProblem('clientCertificate.certFile', certFile), readProblem('clientCertificate.keyFile', keyFile)].filter(isString)
    if (unreadable.length > 0) return unreadable
    const loaded = signingCertificateOf(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'), { certFile, keyFile })
    return typeof loaded === 'string' ? [`${at}.clientCertificate: ${loaded}`] : []
  }
  return []
}

/**
 * The credential `graph` names, read now (a problem is a ConfigError, as at config load) and
 * again for every token request.
 */
export function createGraphCredentials (graph: GraphCredentialOptions, { now = Date.now }: { now?: () => number } = {}): GraphCredentials {
  const problems = graphCredentialProblems(graph)
  if (problems.length > 0) throw new ConfigError(problems)
  const { clientId } = graph

  if (graph.clientSecret !== undefined) {
    const secret = graph.clientSecret
    return { key: 'clientSecret', description: 'client secret (entra.graph.clientSecret)', named: 'clientSecret', authenticate: async () => ({ client_secret: secret }) }
  }
  if (graph.clientSecretFile !== undefined) {
    const path = graph.clientSecretFile
    return {
      key: 'clientSecretFile',
      description: `client secret from ${path}`,
      named: 'clientSecretFile',
      authenticate: async () => ({ client_secret: await readAfresh(path, 'clientSecretFile') })
    }
  }
  if (graph.federatedTokenFile !== undefined) {
    const path = graph.federatedTokenFile
    return {
      key: 'federatedTokenFile',
      description: `federated service-account token from ${path}`,
      named: 'federatedTokenFile',
      authenticate: async () => ({ client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: await readAfresh(path, 'federatedTokenFile') })
    }
  }
  if (graph.clientCertificate !== undefined) return certificateCredentials(clientId, graph.clientCertificate, now)
  throw new ConfigError([`entra.graph: needs one of ${GRAPH_CREDENTIAL_KEYS.join(', ')}`])
}

function certificateCredentials (clientId: string, files: { certFile: string, keyFile: string }, now: () => number): GraphCredentials {
  const { certFile, keyFile } = files
  let last = { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') }
  let current = signingCertificateOf(last.certPem, last.keyPem, files) as SigningCertificate

  /** Both files again: a renewed certificate (a Secret volume's atomic swap) signs from now on. */
  async function signing (): Promise<SigningCertificate> {
    const [certPem, keyPem] = await Promise.all([readAfresh(certFile, 'clientCertificate.certFile'), readAfresh(keyFile, 'clientCertificate.keyFile')])
    if (certPem === last.certPem && keyPem === last.keyPem) return current
    const loaded = signingCertificateOf(certPem, keyPem, { certFile: 'certFile', keyFile: 'keyFile' })
    if (typeof loaded === 'string') throw new Error(`entra.graph.clientCertificate: ${loaded}`)
    last = { certPem, keyPem }
    current = loaded
    return current
  }

  return {
    key: 'clientCertificate',
    get description () { return `client certificate (x5t#S256 ${current.thumbprint}, ${current.subject}, valid until ${current.validTo}, ${current.alg})` },
    get named () { return `clientCertificate x5t#S256 ${current.thumbprint}` },
    async authenticate (tokenUrl) {
      return { client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion(await signing(), clientId, tokenUrl, Math.floor(now() / 1000)) }
    }
  }
}

interface SigningCertificate {
  key: KeyObject
  alg: 'RS256' | 'PS256'
  /** base64url(SHA-256(DER)): the `x5t#S256` header by which Entra finds the registered certificate. */
  thumbprint: string
  subject: string
  validTo: string
}

/** The certificate and its key, or what is wrong with them (naming the files, never their content). */
function signingCertificateOf (certPem: string, keyPem: string, names: { certFile: string, keyFile: string }): SigningCertificate | string {
  let cert: X509Certificate
  try {
    cert = new X509Certificate(certPem)
  } catch {
    return `${names.certFile} holds no PEM certificate`
  }
  let key: KeyObject
  try {
    key = createPrivateKey(keyPem)
  } catch {
    return `${names.keyFile} holds no unencrypted PEM private key`
  }
  const type = key.asymmetricKeyType
  if (type !== 'rsa' && type !== 'rsa-pss') return `${names.keyFile} is a${type === 'ec' ? 'n' : ''} ${type ?? 'unknown'} key; Entra verifies client assertions with RSA certificates (openssl req -x509 -newkey rsa:2048 …)`
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
  if (bits < MIN_RSA_BITS) return `${names.keyFile} is a ${bits}-bit RSA key; Entra refuses RSA keys under ${MIN_RSA_BITS} bits (AADSTS50032)`
  if (!cert.checkPrivateKey(key)) return `${names.keyFile} is not the key of the certificate in ${names.certFile}`
  const validTo = cert.validToDate
  if (validTo.getTime() <= Date.now()) return `the certificate in ${names.certFile} expired on ${validTo.toISOString()}; Entra refuses an assertion signed with it`
  return {
    key,
    // PS256 with `x5t#S256` is Entra's current guidance for certificate credentials (and what
    // MSAL sends); RS256 pairs with the SHA-1 `x5t` of the older documentation.
    alg: 'PS256',
    thumbprint: createHash('sha256').update(cert.raw).digest('base64url'),
    subject: cert.subject.replace(/\n/g, ', '),
    validTo: validTo.toISOString().slice(0, 10)
  }
}

/**
 * A `private_key_jwt` client assertion (OpenID Connect Core §9; Entra "certificate credentials"):
 * `iss` = `sub` = the app, `aud` = the token endpoint it is sent to, a fresh `jti`, `nbf`/`iat`
 * now and `exp` ASSERTION_LIFETIME_SEC later.
 */
function clientAssertion (certificate: SigningCertificate, clientId: string, tokenUrl: string, nowSec: number): string {
  const header = { alg: certificate.alg, typ: 'JWT', 'x5t#S256': certificate.thumbprint }
  const payload = { aud: tokenUrl, iss: clientId, sub: clientId, jti: randomUUID(), nbf: nowSec, iat: nowSec, exp: nowSec + ASSERTION_LIFETIME_SEC }
  const input = `${base64url(header)}.${base64url(payload)}`
  // PS256: RSASSA-PSS with SHA-256 and a 32-byte salt (RFC 7518 §3.5).
  const key = certificate.alg === 'PS256' ? { key: certificate.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : certificate.key
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`
}

function base64url (value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** A credential file as it is now; a trailing newline (`echo … > file`) is not part of it. */
async function readAfresh (path: string, key: string): Promise<string> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new Error(`entra.graph.${key} cannot be read (${errorCode(err)})`)
  }
  const value = text.trim()
  if (value === '') throw new Error(`entra.graph.${key} is empty`)
  return value
}

function errorCode (err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err)
}

function isString (value: string | undefined): value is string {
  return value !== undefined
}
