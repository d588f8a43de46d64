/**
 * One Redis, three shapes (CONTRACT.md §10): a standalone server (`url`), a Sentinel-watched
 * primary (followed across failovers by ioredis itself) or a Cluster (followed across slot
 * moves). Every shape gets the fail-fast settings of §4: no offline queue, no per-command
 * retry, a short command timeout, reconnects in the background.
 */
import type { TLSSocket } from 'node:tls'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { RedisConfig } from '../config/schema.js'
import { describeTls, loadBackendTls, nodeTlsOptions, redisTlsMode, type BackendTls } from './tls.js'
import { liveSecret } from './secret-file.js'

export type RedisTopology =
  | { kind: 'standalone', url: string }
  | { kind: 'sentinel', masterName: string, nodes: HostPort[], username?: string, password?: string, passwordFile?: string }
  | { kind: 'cluster', nodes: HostPort[] }

export interface HostPort { host: string, port: number }

export interface RedisSettings {
  topology: RedisTopology
  username?: string
  password?: string
  /** Instead of `password`: read for every new connection (CONTRACT.md §14). */
  passwordFile?: string
  tls: BackendTls
  keyPrefix: string
  commandTimeoutMs: number
  connectTimeoutMs: number
}

export type RedisConnection = Redis | Cluster

/** The validated `cache.redis` section as settings, its TLS files read (a ConfigError if one is bad). */
export function redisSettingsFrom (redis: RedisConfig): RedisSettings {
  const topology: RedisTopology = redis.sentinel !== undefined
    ? { kind: 'sentinel', masterName: redis.sentinel.masterName, nodes: redis.sentinel.nodes.map(parseHostPort), ...optional('username', redis.sentinel.username), ...optional('password', redis.sentinel.password), ...optional('passwordFile', redis.sentinel.passwordFile) }
    : redis.cluster !== undefined
      ? { kind: 'cluster', nodes: redis.cluster.nodes.map(parseHostPort) }
      : { kind: 'standalone', url: redis.url ?? '' }
  return {
    topology,
    ...optional('username', redis.username),
    ...optional('password', redis.password),
    ...optional('passwordFile', redis.passwordFile),
    tls: loadBackendTls('cache.redis.tls', redisTlsMode(redis.url, redis.tls), redis.tls),
    keyPrefix: redis.keyPrefix,
    commandTimeoutMs: redis.commandTimeoutMs,
    connectTimeoutMs: redis.connectTimeoutMs
  }
}

function optional<K extends string> (key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : { [key]: value } as Record<K, string>
}

function parseHostPort (text: string): HostPort {
  const colon = text.lastIndexOf(':')
  return { host: text.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(text.slice(colon + 1)) }
}

/** Reconnects (to servers and to sentinels) in the background, 100 ms more each attempt, capped at 2 s. */
const backoff = (attempt: number): number => Math.min(attempt * 100, 2000)

/** ioredis options every shape shares; `subscriber` keeps an offline queue (its SUBSCRIBE waits for a connection). */
function connectionOptions (settings: RedisSettings, subscriber: boolean): RedisOptions {
  return {
    enableOfflineQueue: subscriber,
    maxRetriesPerRequest: 0,
    ...(subscriber ? {} : { commandTimeout: settings.commandTimeoutMs }),
    connectTimeout: settings.connectTimeoutMs,
    retryStrategy: backoff,
    enableReadyCheck: true,
    lazyConnect: false,
    ...optional('username', settings.username),
    ...optional('password', settings.passwordFile === undefined ? settings.password : liveSecret(settings.passwordFile)()),
    ...(settings.tls.mode === 'disabled' ? {} : { tls: nodeTlsOptions(settings.tls) })
  }
}

export function createRedisConnection (settings: RedisSettings, { subscriber = false }: { subscriber?: boolean } = {}): RedisConnection {
  const connection = connectionOf(settings, subscriber)
  const sentinelFile = settings.topology.kind === 'sentinel' ? settings.topology.passwordFile : undefined
  if (connection instanceof Cluster) {
    // Each node's client copies `redisOptions` when it is created: a node found later reads the file.
    if (settings.passwordFile !== undefined) readOnEveryConnect(connection.options.redisOptions ?? {}, 'password', settings.passwordFile)
  } else {
    if (settings.passwordFile !== undefined) readOnEveryConnect(connection.options, 'password', settings.passwordFile)
    if (sentinelFile !== undefined) readOnEveryConnect(connection.options, 'sentinelPassword', sentinelFile)
  }
  return connection
}

/**
 * ioredis reads `options.password` in `connect()` (the AUTH of each new connection, reconnects
 * included) and the Sentinel connector reads `options.sentinelPassword` for each sentinel it
 * asks: a getter there reads the file each time, and nothing else changes.
 */
function readOnEveryConnect (options: object, key: 'password' | 'sentinelPassword', file: string): void {
  const read = liveSecret(file)
  Object.defineProperty(options, key, { get: read, enumerable: true, configurable: true })
}

function connectionOf (settings: RedisSettings, subscriber: boolean): RedisConnection {
  const options = connectionOptions(settings, subscriber)
  const { topology } = settings
  switch (topology.kind) {
    case 'standalone':
      return new Redis(topology.url, options)
    case 'sentinel':
      return revivedAfterUnexpectedEnd(new Redis({
        ...options,
        sentinels: topology.nodes,
        name: topology.masterName,
        role: 'master',
        ...optional('sentinelUsername', topology.username),
        ...optional('sentinelPassword', topology.passwordFile === undefined ? topology.password : liveSecret(topology.passwordFile)()),
        // TLS to the sentinels as to the servers (CONTRACT.md §10).
        ...(settings.tls.mode === 'disabled' ? {} : { enableTLSForSentinelMode: true, sentinelTLS: nodeTlsOptions(settings.tls) }),
        sentinelRetryStrategy: backoff,
        sentinelCommandTimeout: settings.connectTimeoutMs,
        // Sentinels announce the switch; without it the move waits for the old primary's socket to fail.
        failoverDetector: true
      }))
    case 'cluster': {
      const { enableOfflineQueue, retryStrategy, ...redisOptions } = options
      const clusterOptions: ClusterOptions = {
        enableOfflineQueue,
        // ioredis's cluster ready check sends CLUSTER INFO to any node, ready or not; without an
        // offline queue it then fails whenever that node is still connecting, and reconnects
        // (seen: 3 s and more to come up). Ready once the slots are known; a command to a node
        // not connected yet fails fast and falls through, like any Redis failure.
        enableReadyCheck: false,
        clusterRetryStrategy: retryStrategy,
        // A moved slot is followed; a dead node's slots fail fast and fall through to the source.
        maxRedirections: 4,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        slotsRefreshTimeout: settings.connectTimeoutMs,
        redisOptions
      }
      return new Cluster(topology.nodes, clusterOptions)
    }
  }
}

const closedByUs = new WeakSet<RedisConnection>()

/** Closes a connection for good (shutdown); any other end of a connection is a fault to recover from. */
export function closeRedisConnection (connection: RedisConnection): void {
  closedByUs.add(connection)
  connection.disconnect()
}

/**
 * ioredis 6.0 can give up a Sentinel connection for good: when the previous connection's
 * failover detector sees `+switch-master` while the client is already reconnecting, it closes
 * the connector mid-connect, and the client ends (status `end`: every later command refused)
 * instead of retrying. Seen under load in the failover test: the gateway stayed off Redis until
 * restarted. A connection that ends without `closeRedisConnection` is connected again.
 */
function revivedAfterUnexpectedEnd (connection: Redis): Redis {
  connection.on('end', () => {
    if (closedByUs.has(connection)) return
    connection.emit('error', new Error('the connection ended during a Sentinel failover; connecting again'))
    const retry = setTimeout(() => {
      if (!closedByUs.has(connection) && connection.status === 'end') connection.connect().catch(() => {})
    }, 100)
    retry.unref()
  })
  return connection
}

/** What `check` prints of a connected store: topology, the node that answered, TLS state. */
export async function describeRedis (connection: RedisConnection, settings: RedisSettings): Promise<string> {
  const tls = describeTls(settings.tls.mode)
  const { topology } = settings
  if (connection instanceof Cluster) {
    const nodes = connection.nodes('master')
    const answers = await Promise.allSettled(nodes.map(async (node) => await node.ping()))
    const answering = nodes.filter((_, i) => answers[i]?.status === 'fulfilled')
    if (answering.length === 0) throw (answers.find((a) => a.status === 'rejected') as PromiseRejectedResult | undefined)?.reason ?? new Error('no primary known')
    const silent = nodes.filter((_, i) => answers[i]?.status === 'rejected').map(address)
    const primaries = answering.map(address).sort().join(', ')
    return `redis cluster, ${answering.length} of ${nodes.length} primaries answer (${primaries})${silent.length > 0 ? `, silent: ${silent.join(', ')}` : ''}, ${tls}${protocolOf(answering[0])}`
  }
  const role = await connection.call('ROLE') as [string, ...unknown[]]
  const stream = connection.stream
  const answering = `${stream.remoteAddress ?? '?'}:${stream.remotePort ?? '?'} (${role[0] === 'master' ? 'primary' : role[0]})`
  const shape = topology.kind === 'sentinel' ? `redis sentinel ${topology.masterName} → ${answering}` : `redis standalone ${answering}`
  return `${shape}, ${tls}${protocolOf(connection)}`
}

function address (node: Redis): string {
  return `${node.options.host ?? '?'}:${node.options.port ?? '?'}`
}

function protocolOf (connection: Redis | undefined): string {
  const socket = connection?.stream as Partial<TLSSocket> | undefined
  const protocol = typeof socket?.getProtocol === 'function' ? socket.getProtocol() : null
  return protocol ? ` (${protocol})` : ''
}

/** Where the store is, for messages: never a credential. */
export function describeRedisAddress (topology: RedisTopology): string {
  switch (topology.kind) {
    case 'standalone': {
      try {
        const url = new URL(topology.url)
        return `${url.protocol}//${url.host}`
      } catch {
        return 'at the configured URL'
      }
    }
    case 'sentinel': return `sentinel ${topology.masterName} (${topology.nodes.map((n) => `${n.host}:${n.port}`).join(', ')})`
    case 'cluster': return `cluster (${topology.nodes.map((n) => `${n.host}:${n.port}`).join(', ')})`
  }
}
