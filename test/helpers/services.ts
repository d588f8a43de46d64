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

function managed (t: Test, name: string, dir: string, launch: () => ChildProcess, port: number, readyMs: number): RunningService & { start: () => Promise<void> } {
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

/**
 * redis-server with no persistence, on a free loopback port; with `tls`, TLS only on that port
 * (`rediss://`), serving the given certificate.
 */
export async function startRedis (t: Test, { tls }: { tls?: { certFile: string, keyFile: string } } = {}): Promise<RunningService & { url: string }> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'bookme-redis-'))
  const listen = tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-auth-clients', 'no']
    : ['--port', String(port)]
  const service = managed(t, 'redis-server', dir, () => spawn('redis-server', [
    ...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir
  ], { stdio: ['ignore', 'pipe', 'pipe'] }), port, 10_000)
  await service.start()
  return { ...service, url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}` }
}

export interface RunningMariaDb extends RunningService {
  user: string
  password: string
  /** Runs SQL as root through the mariadb client (for fixtures and row changes in tests). */
  sql (statements: string, database?: string): void
}

const MARIADB_BIN = ['/usr/sbin/mariadbd', '/usr/sbin/mysqld'].find((p) => existsSync(p)) ?? 'mariadbd'

/** A throwaway mariadbd: own datadir and socket, loopback TCP, a password user for the gateway. */
export async function startMariaDb (t: Test): Promise<RunningMariaDb> {
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
    '--innodb-buffer-pool-size=16M', '--innodb-log-file-size=8M'
  ], { stdio: ['ignore', 'pipe', 'pipe'] }), port, 30_000)
  await service.start()
  const user = 'bookme_gw'
  const password = 'test-password'
  const sql = (statements: string, database?: string): void => {
    const result = spawnSync('mariadb', ['--no-defaults', `--socket=${socket}`, '-uroot', ...(database ? [database] : [])],
      { input: statements, encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`SQL failed: ${result.stderr}`)
  }
  sql(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'; CREATE USER '${user}'@'localhost' IDENTIFIED BY '${password}';`)
  return { ...service, user, password, sql }
}

export const SCHEMA_FILE = new URL('../../config/bp_organizations_db.sql', import.meta.url)

/** MariaDB with `bp_organizations_db` created from config/bp_organizations_db.sql and SELECT granted to the gateway user. */
export async function startOrganizationsDb (t: Test, seed = ''): Promise<RunningMariaDb> {
  const db = await startMariaDb(t)
  const { readFileSync } = await import('node:fs')
  db.sql('CREATE DATABASE bp_organizations_db;')
  db.sql(readFileSync(SCHEMA_FILE, 'utf8'), 'bp_organizations_db')
  db.sql(`GRANT SELECT ON bp_organizations_db.* TO '${db.user}'@'127.0.0.1'; GRANT SELECT ON bp_organizations_db.* TO '${db.user}'@'localhost';`)
  if (seed) db.sql(seed, 'bp_organizations_db')
  return db
}
