/**
 * TLS to MySQL and Redis (CONTRACT.md §10): the effective mode, the PEM files read once at start
 * (a problem with one is a configuration error, `path: message`), and the Node TLS options each
 * mode means. No mode ever falls back to plaintext: a handshake that fails is a failed connection.
 */
import { readFileSync } from 'node:fs'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import { connect as connectTls, type ConnectionOptions } from 'node:tls'
import type { Config, TlsConfig, TlsMode } from '../config/schema.js'
import { ConfigError } from '../config/validation.js'

export interface BackendTls {
  mode: TlsMode
  /** Where it was configured, for messages: `mappings.mysql.tls`. */
  at: string
  ca?: string
  cert?: string
  key?: string
  servername?: string
}

function isLoopbackHost (host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true
  if (isIP(bare) === 4) return bare.startsWith('127.')
  return bare === '::1' || bare === '0:0:0:0:0:0:0:1'
}

/** MySQL: `verify-full`, except `disabled` for a loopback host (a local TLS-terminating sidecar). */
export function mysqlTlsMode (host: string, tls: TlsConfig | undefined): TlsMode {
  return tls?.mode ?? (isLoopbackHost(host) ? 'disabled' : 'verify-full')
}

/**
 * Redis: `rediss://` or a `tls` block turns TLS on (`verify-full` unless told otherwise), for the
 * servers and the sentinels alike; without either it is plaintext. A `tls` block is an explicit
 * ask for TLS, so a loopback host does not switch it off.
 */
export function redisTlsMode (url: string | undefined, tls: TlsConfig | undefined): TlsMode {
  if (tls !== undefined) return tls.mode ?? 'verify-full'
  return url?.startsWith('rediss://') === true ? 'verify-full' : 'disabled'
}

/**
 * The TLS files of the backends `config` uses (MySQL when it is the mapping source, Redis when it
 * is the store): what a reload watches, and whose contents make new connections.
 */
export function backendTlsFiles (config: Readonly<Config>): { mysql: string[], redis: string[] } {
  const filesOf = (tls: TlsConfig | undefined): string[] => [tls?.caFile, tls?.certFile, tls?.keyFile].filter((file): file is string => file !== undefined)
  return {
    mysql: config.mappings.source === 'mysql' ? filesOf(config.mappings.mysql?.tls) : [],
    redis: config.cache.store === 'redis' ? filesOf(config.cache.redis?.tls) : []
  }
}

/** Reads and checks the PEM files of `tls`; every problem at once, as a ConfigError. */
export function loadBackendTls (at: string, mode: TlsMode, tls: TlsConfig | undefined): BackendTls {
  const problems: string[] = []
  const read = (key: 'caFile' | 'certFile' | 'keyFile'): string | undefined => {
    const file = tls?.[key]
    if (file === undefined) return undefined
    try {
      return readFileSync(file, 'utf8')
    } catch (err) {
      problems.push(`${at}.${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
      return undefined
    }
  }
  const ca = read('caFile')
  const cert = read('certFile')
  const key = read('keyFile')
  if (ca !== undefined && !parsesAsCertificate(ca)) problems.push(`${at}.caFile: ${tls?.caFile} holds no PEM certificate`)
  let certificate: X509Certificate | undefined
  if (cert !== undefined) {
    if (parsesAsCertificate(cert)) certificate = new X509Certificate(cert)
    else problems.push(`${at}.certFile: ${tls?.certFile} holds no PEM certificate`)
  }
  if (key !== undefined) {
    try {
      const privateKey = createPrivateKey(key)
      if (certificate && !certificate.checkPrivateKey(privateKey)) problems.push(`${at}.keyFile: ${tls?.keyFile} is not the key of ${tls?.certFile}`)
    } catch {
      problems.push(`${at}.keyFile: ${tls?.keyFile} holds no unencrypted PEM private key`)
    }
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return {
    mode,
    at,
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(tls?.servername !== undefined ? { servername: tls.servername } : {})
  }
}

function parsesAsCertificate (pem: string): boolean {
  try {
    new X509Certificate(pem) // eslint-disable-line no-new
    return true
  } catch {
    return false
  }
}

/**
 * Node TLS options for an enabled mode. `verify-full` checks the chain and the host name (Node's
 * own check, against `servername` when set), `verify-ca` the chain only, `required` neither.
 * Without a CA file Node's bundled CAs apply.
 */
export function nodeTlsOptions (tls: BackendTls): ConnectionOptions {
  return {
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    rejectUnauthorized: tls.mode !== 'required',
    ...(tls.mode === 'verify-full' ? {} : { checkServerIdentity: () => undefined })
  }
}

/** mysql2's `ssl` option for an enabled mode (it checks the host name only with `verifyIdentity`). */
export function mysqlSslOptions (tls: BackendTls): { ca?: string, cert?: string, key?: string, rejectUnauthorized: boolean, verifyIdentity: boolean } {
  return {
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
    rejectUnauthorized: tls.mode !== 'required',
    verifyIdentity: tls.mode === 'verify-full'
  }
}

/** How `check` and `/readyz` say it: `TLS verified`, `TLS (chain verified, host name not checked)`, … */
export function describeTls (mode: TlsMode): string {
  switch (mode) {
    case 'verify-full': return 'TLS verified'
    case 'verify-ca': return 'TLS, chain verified, host name not checked'
    case 'required': return 'TLS, certificate not verified'
    case 'disabled': return 'TLS off'
  }
}

/**
 * Why a TLS connection to `host:port` does not come up, asked directly (nothing is sent but a
 * handshake): the certificate error, or that the server took the connection and answered no
 * handshake (a plaintext Redis waits for a line that never comes). Undefined when it comes up.
 */
export async function diagnoseTls (host: string, port: number, tls: BackendTls, timeoutMs: number): Promise<Error | undefined> {
  return await new Promise((resolve) => {
    const socket = connectTls({ host, port, ...nodeTlsOptions(tls), ...(tls.servername === undefined && isIP(host) === 0 ? { servername: host } : {}) })
    const done = (result: Error | undefined): void => { clearTimeout(timer); socket.destroy(); resolve(result) }
    const timer = setTimeout(() => {
      const connected = socket.remoteAddress !== undefined
      done(Object.assign(new Error(connected
        ? `the server took the connection but answered no TLS handshake within ${timeoutMs} ms`
        : `no connection within ${timeoutMs} ms`), { code: connected ? 'TLS_HANDSHAKE_UNANSWERED' : 'ETIMEDOUT' }))
    }, timeoutMs)
    socket.once('secureConnect', () => done(undefined))
    socket.once('error', (err) => done(err))
  })
}
