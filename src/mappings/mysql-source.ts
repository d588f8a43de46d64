/**
 * `mappings.source: mysql` — the tables of CONTRACT.md §4 in `bp_organizations_db`, read only,
 * through prepared statements on a small pool. Every query has a timeout so a hung server
 * costs a request a bounded wait, then the cache's stale answer or 503. GUID columns are
 * compared through the tables' case-insensitive collation (the MySQL/MariaDB default), so the
 * primary-key index serves the lookup whatever the case the row was written in.
 */
import { connect as connectTcp, isIP, type Socket } from 'node:net'
import { createPool, type Pool, type RowDataPacket } from 'mysql2/promise'
import type { ClientListing, MappingSource } from './source.js'
import { describeTls, mysqlSslOptions, type BackendTls } from '../backends/tls.js'
import { liveSecret } from '../backends/secret-file.js'

export interface MysqlSourceOptions {
  host: string
  port: number
  user: string
  password: string
  /** Instead of `password`: read for every new connection (CONTRACT.md §14). */
  passwordFile?: string | undefined
  database: string
  connectionLimit: number
  connectTimeoutMs: number
  queryTimeoutMs: number
  tls: BackendTls
}

const TENANT_SQL = `SELECT tb.BankId AS bankId, tb.IsDefault AS isDefault, COALESCE(b.Enabled, 0) AS enabled
  FROM TenantBanks tb LEFT JOIN Banks b ON b.BankId = tb.BankId
  WHERE tb.TenantId = ? ORDER BY tb.BankId`
const CLIENT_SQL = `SELECT c.ClientId AS clientId, c.BankId AS bankId, c.Enabled AS enabled, COALESCE(b.Enabled, 0) AS bankEnabled
  FROM BankClients c LEFT JOIN Banks b ON b.BankId = c.BankId
  WHERE c.ClientId = ?`
const CLIENTS_SQL = `SELECT c.ClientId AS clientId, c.BankId AS bankId, c.Enabled AS enabled, COALESCE(b.Enabled, 0) AS bankEnabled,
  b.Name AS bankName, c.Description AS description, c.SecretExpiresAt AS secretExpiresAt
  FROM BankClients c LEFT JOIN Banks b ON b.BankId = c.BankId`

export function createMysqlSource (options: MysqlSourceOptions): MappingSource {
  const password = options.passwordFile === undefined ? undefined : liveSecret(options.passwordFile)
  const addressed = options.tls.mode === 'verify-full' && isIP(options.host) !== 0
  const pool: Pool = createPool({
    host: options.host,
    port: options.port,
    user: options.user,
    password: password?.() ?? options.password,
    database: options.database,
    connectionLimit: options.connectionLimit,
    connectTimeout: options.connectTimeoutMs,
    waitForConnections: true,
    queueLimit: options.connectionLimit * 50,
    enableKeepAlive: true,
    // DATETIME without a zone: read as UTC, as the operators write it.
    timezone: 'Z',
    dateStrings: false,
    // TLS or not is decided here, once: mysql2 fails a connection whose handshake fails (or whose
    // server offers no TLS) and never retries it in plaintext.
    ...(options.tls.mode === 'disabled' ? {} : { ssl: mysqlSslOptions(options.tls) }),
    // mysql2 calls `stream` once per new connection, with that connection's own copy of the
    // config, before the handshake reads `password`: the file is read there.
    ...(addressed || password !== undefined
      ? {
          stream: (opts: { config: { password?: string } }) => {
            if (password !== undefined) opts.config.password = password()
            return addressedSocket(options.host, options.port, addressed)
          }
        }
      : {})
  })
  // Errors surface through the queries; an idle pool's socket errors must not crash the process.
  pool.on('connection', (connection) => { connection.on('error', () => {}) })

  async function rows (sql: string, params: string[] = []): Promise<RowDataPacket[]> {
    const [result] = await pool.execute<RowDataPacket[]>({ sql, timeout: options.queryTimeoutMs }, params)
    return result
  }

  return {
    kind: 'mysql',
    async tenant (tenantId) {
      const found = await rows(TENANT_SQL, [tenantId.toLowerCase()])
      if (found.length === 0) return null
      return {
        tenantId: tenantId.toLowerCase(),
        banks: found.map((row) => ({ bankId: String(row.bankId), enabled: Number(row.enabled) === 1, isDefault: Number(row.isDefault) === 1 }))
      }
    },
    async client (clientId) {
      const [row] = await rows(CLIENT_SQL, [clientId.toLowerCase()])
      if (!row) return null
      return { clientId: String(row.clientId).toLowerCase(), bankId: String(row.bankId), enabled: Number(row.enabled) === 1, bankEnabled: Number(row.bankEnabled) === 1 }
    },
    async clients () {
      return (await rows(CLIENTS_SQL)).map((row): ClientListing => ({
        clientId: String(row.clientId).toLowerCase(),
        bankId: String(row.bankId),
        enabled: Number(row.enabled) === 1,
        bankEnabled: Number(row.bankEnabled) === 1,
        bankName: row.bankName == null ? null : String(row.bankName),
        description: row.description == null ? null : String(row.description),
        secretExpiresAt: row.secretExpiresAt == null ? null : new Date(row.secretExpiresAt as Date).toISOString()
      }))
    },
    async ping () {
      // The server's own word on the session's TLS, not the client's intent.
      const [status] = await rows("SHOW SESSION STATUS LIKE 'Ssl_version'")
      const version = status?.Value === undefined ? '' : String(status.Value)
      const tls = `${describeTls(options.tls.mode)}${options.tls.mode !== 'disabled' && version ? ` (${version})` : ''}`
      return `mysql ${options.host}:${options.port}/${options.database}, ${tls}`
    },
    async close () { await pool.end() }
  }
}

/**
 * The TCP connection to a MySQL server configured by IP address, for `verify-full`. mysql2 gives
 * TLS no server name for an address (SNI cannot carry one, RFC 6066 §3), and Node then checks
 * the certificate against the upgraded socket's `_host` — which `net` sets only for a name it
 * resolved — or else `localhost` (`onConnectSecure` in Node's lib/_tls_wrap.js): any certificate
 * naming localhost passed, and one naming only the address failed. With `_host` set to the
 * configured address, Node's own `tls.checkServerIdentity` matches it against the certificate's
 * SAN IP entries (RFC 6125 §6.2.1), before anything of the login is sent. mysql2 3.x takes no
 * `checkServerIdentity` of its own (node-mysql2 #2295). The rest is what mysql2 does itself.
 */
function addressedSocket (host: string, port: number, addressed: boolean): Socket {
  const socket = connectTcp({ host, port, noDelay: true, keepAlive: true })
  if (addressed) (socket as Socket & { _host: string })._host = host
  return socket
}
