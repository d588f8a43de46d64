import t from 'tap'
import type { Redis } from 'ioredis'
import { startSentinel } from '../helpers/redis-topologies.js'
import { eventually } from '../helpers/eventually.js'
import { closeRedisConnection, createRedisConnection, redisSettingsFrom } from '../../src/backends/redis-client.js'

// ioredis 6.0: a Sentinel client's failover detector that fires while the client is already
// reconnecting closes the connector mid-connect, and the client ends for good (status `end`).
// Seen under load in failover.test.ts; here the same close is made at that moment on purpose.
t.test('a Sentinel connection closed under ioredis mid-connect connects again', async (t) => {
  const sentinel = await startSentinel(t)
  const connection = createRedisConnection(redisSettingsFrom({ sentinel: { masterName: sentinel.masterName, nodes: sentinel.nodes }, keyPrefix: 'x:', commandTimeoutMs: 500, connectTimeoutMs: 1000 } as never)) as Redis
  const errors: string[] = []
  connection.on('error', (err: Error) => errors.push(err.message))
  t.teardown(() => { closeRedisConnection(connection) })
  await new Promise((resolve) => connection.once('ready', resolve))
  const ended = new Promise((resolve) => connection.once('end', resolve))
  connection.once('connecting', () => { (connection as unknown as { connector: { disconnect: () => void } }).connector.disconnect() })
  connection.disconnect(true)
  await ended
  const pong = await eventually(async () => await connection.ping().catch((err: Error) => err.message), (answer) => answer === 'PONG', 10_000)
  t.equal(pong, 'PONG', 'ready again, on its own')
  t.ok(errors.some((message) => /ended during a Sentinel failover/.test(message)), 'and said so')
})
