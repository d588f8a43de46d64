import t from 'tap'
import { Redis } from 'ioredis'
import { createConnection } from 'mysql2/promise'
import { startMariaDb, startRedis } from '../helpers/services.js'

t.test('the Redis helper runs a real server that answers, dies and comes back', async (t) => {
  const redis = await startRedis(t)
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  await client.connect()
  await client.set('k', 'v')
  t.equal(await client.get('k'), 'v')
  await redis.kill()
  await t.rejects(client.get('k'))
  await redis.restart()
})

t.test('the MariaDB helper runs a real server with a password user on loopback TCP', async (t) => {
  const db = await startMariaDb(t)
  db.sql("CREATE DATABASE probe; CREATE TABLE probe.t (x INT); INSERT INTO probe.t VALUES (42); GRANT SELECT ON probe.* TO 'bookme_gw'@'127.0.0.1';")
  const conn = await createConnection({ host: db.host, port: db.port, user: db.user, password: db.password, database: 'probe' })
  t.teardown(() => conn.end())
  const [rows] = await conn.query('SELECT x FROM t')
  t.same(rows, [{ x: 42 }])
})
