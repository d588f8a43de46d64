import type { Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs'
import { createServer, connect, type AddressInfo } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'

/**
 * Real Redis and MariaDB servers on loopback for the tests: ephemeral ports, temp data dirs,
 * killed and removed by the test's teardown. `.ci/run` installs the binaries on a fresh machine.
 */
export interface RunningService {
  host: string
  port: number
  /** Kill the server (SIGKILL: an outage, not a shutdown). */
  kill (): Promise<void>
  /** Start it again on the same port and data dir. */
  restart (): Promise<void>
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port
      server.close(() => resolve(port))
    })
  })
}

async function waitForPort (port: number, child: ChildProcess, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output()}`)
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (open) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`server did not open port ${port} in ${timeoutMs} ms:\n${output()}`)
}

export function managed (t: Test, name: string, dir: string, launch: () => ChildProcess, port: number, readyMs: number): RunningService & { start: () => Promise<void> } {
  let child: ChildProcess | undefined
  let output = ''
  const start = async (): Promise<void> => {
    output = ''
    child = launch()
    child.stdout?.on('data', (c: Buffer) => { output += c.toString() })
    child.stderr?.on('data', (c: Buffer) => { output += c.toString() })
    await waitForPort(port, child, readyMs, () => `${name}: ${output}`)
  }
  const kill = async (): Promise<void> => {
    const running = child
    if (!running || running.exitCode !== null || running.signalCode !== null) return
    const gone = new Promise((resolve) => running.once('exit', resolve))
    running.kill('SIGKILL')
    await gone
  }
  t.teardown(async () => {
    await kill()
    rmSync(dir, { recursive: true, force: true })
  })
  return { host: '127.0.0.1', port, kill, restart: start, start }
}

export interface RedisServerOptions {
  /** TLS only on the port (`rediss://`), serving this certificate. */
  tls?: { certFile: string, keyFile: string }
  /** With `tls`: clients must present a certificate signed by this CA. */
  clientCaFile?: string
  /** The default user's password (`requirepass`). */
  password?: string
  /** ACL users beside the default one: `user NAME on >PASSWORD ~* +@all` lines' rules. */
  aclUsers?: Array<{ name: string, password: string, rules: string }>
  /** More redis-server arguments (`--replicaof`, `--cluster-enabled`). */
  extraArgs?: string[]
  port?: number
}

/** The `redis-server` arguments of a throwaway, unpersisted server on a loopback port. */
export function redisServerArgs (port: number, dir: string, options: RedisServerOptions): string[] {
  const { tls } = options
  const listen = tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile,
        ...(options.clientCaFile ? ['--tls-ca-cert-file', options.clientCaFile, '--tls-auth-clients', 'yes'] : ['--tls-auth-clients', 'no'])]
    : ['--port', String(port)]
  const acl = (options.aclUsers ?? []).flatMap((u) => ['--user', u.name, 'on', `>${u.password}`, ...u.rules.split(' ')])
  return [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    ...(options.password ? ['--requirepass', options.password] : []), ...acl, ...(options.extraArgs ?? [])]
}

/** redis-server with no persistence, on a free loopback port (see RedisServerOptions). */
export async function startRedis (t: Test, options: RedisServerOptions = {}): Promise<RunningService & { url: string }> {
  const port = options.port ?? await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'bookme-redis-'))
  const service = managed(t, 'redis-server', dir, () => spawn('redis-server', redisServerArgs(port, dir, options), { stdio: ['ignore', 'pipe', 'pipe'] }), port, 10_000)
  await service.start()
  return { ...service, url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}` }
}

export interface RunningMariaDb extends RunningService {
  user: string
  password: string
  /** Runs SQL as root through the mariadb client (for fixtures and row changes in tests). */
  sql (statements: string, database?: string): void
  /** A query's rows as root, each a list of column texts. */
  rows (statement: string, database?: string): string[][]
  /** The TLS certificate the next `restart` serves. */
  useCertificate (tls: MariaDbOptions['tls']): void
}

const MARIADB_BIN = ['/usr/sbin/mariadbd', '/usr/sbin/mysqld'].find((p) => existsSync(p)) ?? 'mariadbd'

export interface MariaDbOptions {
  /** Serve TLS with this certificate (`--ssl-*`); without it the server offers no TLS. */
  tls?: { caFile: string, certFile: string, keyFile: string }
}

/** A throwaway mariadbd: own datadir and socket, loopback TCP, a password user for the gateway. */
export async function startMariaDb (t: Test, options: MariaDbOptions = {}): Promise<RunningMariaDb> {
  let tls = options.tls
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'bookme-mariadb-'))
  const datadir = join(dir, 'data')
  const socket = join(dir, 'mysqld.sock')
  // A temp dir of its own: a starting mariadbd deletes every `#sql*` file in its tmpdir, so in a
  // shared /tmp it removed the temporary tables of another one bootstrapping beside it
  // ("Could not remove temporary table", then install-db aborted; seen under load).
  const scratch = join(dir, 'tmp')
  mkdirSync(scratch)
  const osUser = userInfo().username
  const install = spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${datadir}`, `--user=${osUser}`, '--auth-root-authentication-method=normal',
    '--skip-test-db', '--skip-name-resolve', `--tmpdir=${scratch}`], { encoding: 'utf8' })
  if (install.status !== 0) throw new Error(`mariadb-install-db failed:\n${install.stdout}\n${install.stderr}`)
  const service = managed(t, 'mariadbd', dir, () => spawn(MARIADB_BIN, [
    '--no-defaults', `--datadir=${datadir}`, `--socket=${socket}`, `--port=${port}`, '--bind-address=127.0.0.1',
    `--pid-file=${join(dir, 'mysqld.pid')}`, `--user=${osUser}`, '--skip-name-resolve', '--skip-log-bin', `--tmpdir=${scratch}`,
    '--innodb-buffer-pool-size=16M', '--innodb-log-file-size=8M',
    ...(tls ? [`--ssl-ca=${tls.caFile}`, `--ssl-cert=${tls.certFile}`, `--ssl-key=${tls.keyFile}`] : [])
  ], { stdio: ['ignore', 'pipe', 'pipe'] }), port, 30_000)
  await service.start()
  const user = 'bookme_gw'
  const password = 'test-password'
  const run = (statements: string, database: string | undefined, flags: string[]): string => {
    const result = spawnSync('mariadb', ['--no-defaults', `--socket=${socket}`, '-uroot', ...flags, ...(database ? [database] : [])],
      { input: statements, encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`SQL failed: ${result.stderr}`)
    return result.stdout
  }
  const sql = (statements: string, database?: string): void => { run(statements, database, []) }
  const rows = (statement: string, database?: string): string[][] =>
    run(statement, database, ['--batch', '--skip-column-names']).split('\n').filter(Boolean).map((line) => line.split('\t'))
  sql(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'; CREATE USER '${user}'@'localhost' IDENTIFIED BY '${password}';`)
  return { ...service, user, password, sql, rows, useCertificate (next) { tls = next } }
}

export const SCHEMA_FILE = new URL('../../config/bp_organizations_db.sql', import.meta.url)

/** MariaDB with `bp_organizations_db` created from config/bp_organizations_db.sql and SELECT granted to the gateway user. */
export async function startOrganizationsDb (t: Test, seed = '', options: MariaDbOptions = {}): Promise<RunningMariaDb> {
  const db = await startMariaDb(t, options)
  const { readFileSync } = await import('node:fs')
  db.sql('CREATE DATABASE bp_organizations_db;')
  db.sql(readFileSync(SCHEMA_FILE, 'utf8'), 'bp_organizations_db')
  db.sql(`GRANT SELECT ON bp_organizations_db.* TO '${db.user}'@'127.0.0.1'; GRANT SELECT ON bp_organizations_db.* TO '${db.user}'@'localhost';`)
  if (seed) db.sql(seed, 'bp_organizations_db')
  return db
}

/**
 * A MariaDB that requires TLS of its test user and a TLS-only Redis with a password, both
 * serving `certs.server` (the managed-service shape of the production and Azure examples).
 */
export async function startTlsBackends (t: Test, certs: { caFile: string, server: { certFile: string, keyFile: string } }, redisPassword: string): Promise<{ db: RunningMariaDb, redis: RunningService & { url: string } }> {
  const db = await startOrganizationsDb(t, '', { tls: { caFile: certs.caFile, certFile: certs.server.certFile, keyFile: certs.server.keyFile } })
  db.sql(`ALTER USER '${db.user}'@'127.0.0.1' REQUIRE SSL; ALTER USER '${db.user}'@'localhost' REQUIRE SSL;`)
  const redis = await startRedis(t, { tls: certs.server, password: redisPassword })
  return { db, redis }
}
