// The purge scenario (helpers/redis-purge-scenario.ts) on Redis Sentinel, plain and over TLS.
import t from 'tap'
import { startSentinel } from '../helpers/redis-topologies.js'
import { makeCertificates } from '../helpers/certs.js'
import { dbsize, purgeScenario } from '../helpers/redis-purge-scenario.js'

t.test('Sentinel: answers, purge to every gateway, check names the primary', async (t) => {
  const sentinel = await startSentinel(t, { password: 'data-pw', sentinelPassword: 'sentinel-pw' })
  const line = await purgeScenario(t, {
    sentinel: { masterName: sentinel.masterName, nodes: sentinel.nodes, password: '${SENTINEL_PASSWORD}' },
    password: '${REDIS_PASSWORD}'
  }, () => [dbsize(sentinel.primary.port, undefined, 'data-pw')], { SENTINEL_PASSWORD: 'sentinel-pw', REDIS_PASSWORD: 'data-pw' })
  t.equal(line, `redis sentinel bookme → 127.0.0.1:${sentinel.primary.port} (primary), TLS off`)
})

t.test('Sentinel over TLS: the sentinels and the servers alike', async (t) => {
  const certs = makeCertificates(t)
  const tls = { ...certs.server, caFile: certs.caFile }
  const sentinel = await startSentinel(t, { tls })
  const line = await purgeScenario(t, { sentinel: { masterName: sentinel.masterName, nodes: sentinel.nodes }, tls: { caFile: certs.caFile } },
    () => [dbsize(sentinel.primary.port, tls)])
  t.equal(line, `redis sentinel bookme → 127.0.0.1:${sentinel.primary.port} (primary), TLS verified (TLSv1.3)`)
})
