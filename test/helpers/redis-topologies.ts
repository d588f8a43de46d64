import type { Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eventually } from './eventually.js'
import { freePort, managed, startRedis, type RedisServerOptions, type RunningService } from './services.js'

/**
 * Real Redis Sentinel and Cluster deployments on loopback: a primary, a replica and three
 * `redis-sentinel` processes; or three cluster primaries made by `redis-cli --cluster create`.
 */
export interface RunningSentinel {
  masterName: string
  primary: RunningService & { url: string }
  replica: RunningService & { url: string }
  sentinels: RunningService[]
  /** `host:port` of each sentinel, as the gateway's config lists them. */
  nodes: string[]
  /** The primary's port as the sentinels now report it. */
  currentPrimaryPort (): number | undefined
}

export interface SentinelOptions {
  /** TLS on every server and sentinel, with this certificate. */
  tls?: { certFile: string, keyFile: string, caFile: string }
  /** The data servers' password (`requirepass`, `masterauth`, sentinel `auth-pass`). */
  password?: string
  /** The sentinels' own password. */
  sentinelPassword?: string
}

const MASTER = 'bookme'

export async function startSentinel (t: Test, options: SentinelOptions = {}): Promise<RunningSentinel> {
  const { tls, password } = options
  const tlsServer: RedisServerOptions = tls ? { tls, extraArgs: ['--tls-replication', 'yes', '--tls-ca-cert-file', tls.caFile] } : {}
  const auth = password ? ['--masterauth', password] : []
  const primary = await startRedis(t, { ...tlsServer, ...(password ? { password } : {}), extraArgs: [...(tlsServer.extraArgs ?? []), ...auth] })
  const replica = await startRedis(t, { ...tlsServer, ...(password ? { password } : {}), extraArgs: [...(tlsServer.extraArgs ?? []), ...auth, '--replicaof', '127.0.0.1', String(primary.port)] })
  const sentinels: RunningService[] = []
  const ports: number[] = []
  for (let i = 0; i < 3; i++) {
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'bookme-sentinel-'))
    const conf = join(dir, 'sentinel.conf')
    writeFileSync(conf, [
      ...(tls ? ['port 0', `tls-port ${port}`, `tls-cert-file ${tls.certFile}`, `tls-key-file ${tls.keyFile}`, `tls-ca-cert-file ${tls.caFile}`, 'tls-auth-clients no', 'tls-replication yes'] : [`port ${port}`]),
      'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor ${MASTER} 127.0.0.1 ${primary.port} 2`,
      `sentinel down-after-milliseconds ${MASTER} 1000`,
      `sentinel failover-timeout ${MASTER} 3000`,
      `sentinel parallel-syncs ${MASTER} 1`,
      ...(password ? [`sentinel auth-pass ${MASTER} ${password}`] : []),
      ...(options.sentinelPassword ? [`requirepass ${options.sentinelPassword}`] : [])
    ].join('\n') + '\n')
    // redis-sentinel rewrites its file: one of its own each.
    const sentinel = managed(t, 'redis-sentinel', dir, () => spawn('redis-sentinel', [conf], { stdio: ['ignore', 'pipe', 'pipe'] }), port, 10_000)
    await sentinel.start()
    sentinels.push(sentinel)
    ports.push(port)
  }
  const cli = (port: number, ...args: string[]): string => redisCli(port, tls, options.sentinelPassword, args)
  const currentPrimaryPort = (): number | undefined => {
    const out = cli(ports[0]!, 'SENTINEL', 'get-master-addr-by-name', MASTER).trim().split('\n')
    return out.length >= 2 ? Number(out[1]) : undefined
  }
  // Ready when every sentinel knows the replica and the other sentinels.
  await eventually(() => ports.map((p) => cli(p, 'SENTINEL', 'master', MASTER)), (answers) => answers.every((a) => /num-slaves\n1\n/.test(a) && /num-other-sentinels\n2\n/.test(a)), 20_000)
  return { masterName: MASTER, primary, replica, sentinels, nodes: ports.map((p) => `127.0.0.1:${p}`), currentPrimaryPort }
}

export interface RunningCluster {
  primaries: Array<RunningService & { url: string }>
  nodes: string[]
}

/** Three primaries, no replicas, slots split by `redis-cli --cluster create`; a dead primary's slots fail alone. */
export async function startCluster (t: Test, options: Pick<RedisServerOptions, 'password' | 'tls'> & { caFile?: string } = {}): Promise<RunningCluster> {
  const primaries: Array<RunningService & { url: string }> = []
  for (let i = 0; i < 3; i++) {
    const extraArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000', '--cluster-require-full-coverage', 'no',
      ...(options.tls ? ['--tls-cluster', 'yes', '--tls-ca-cert-file', options.caFile ?? ''] : []),
      ...(options.password ? ['--masterauth', options.password] : [])]
    primaries.push(await startRedis(t, { ...options, extraArgs }))
  }
  const tls = options.tls && options.caFile ? { ...options.tls, caFile: options.caFile } : undefined
  const created = spawnSync('redis-cli', [...cliTls(tls), ...(options.password ? ['-a', options.password, '--no-auth-warning'] : []),
    '--cluster', 'create', ...primaries.map((p) => `127.0.0.1:${p.port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' })
  if (created.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.stdout}\n${created.stderr}`)
  await eventually(() => primaries.map((p) => redisCli(p.port, tls, options.password, ['CLUSTER', 'INFO'])), (infos) => infos.every((i) => /cluster_state:ok/.test(i) && /cluster_known_nodes:3/.test(i)), 20_000)
  return { primaries, nodes: primaries.map((p) => `127.0.0.1:${p.port}`) }
}

function cliTls (tls: { caFile: string } | undefined): string[] {
  return tls ? ['--tls', '--cacert', tls.caFile] : []
}

/** One redis-cli command; its stdout ('' when the server does not answer). */
export function redisCli (port: number, tls: { caFile: string } | undefined, password: string | undefined, args: string[]): string {
  const result = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...cliTls(tls), ...(password ? ['-a', password, '--no-auth-warning'] : []), ...args], { encoding: 'utf8', timeout: 5000 })
  return result.stdout ?? ''
}
