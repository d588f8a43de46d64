import t from 'tap'
import { readFileSync } from 'node:fs'
import { examplePath, renderChart } from '../helpers/helm-render.js'
import { makeCertificates } from '../helpers/certs.js'
import { startIssuer } from '../helpers/issuer.js'
import { localAddresses, podStartsReady } from '../helpers/pod-run.js'
import { startSentinel } from '../helpers/redis-topologies.js'
import { startOrganizationsDb } from '../helpers/services.js'

// examples/sentinel-values.yaml as its Deployment runs it (CONTRACT.md §16): Redis Sentinel with
// TLS and passwords (three sentinels, a primary and a replica), the CA from the Secret redis-tls
// (key ca.crt), MySQL in-cluster without TLS; the passwords in the chart's own Secret. Only
// addresses, the master group's name and the passwords are overridden.
t.test('the sentinel example starts to /readyz 200 as its Deployment runs it', async (t) => {
  const certs = makeCertificates(t)
  const issuer = await startIssuer(t)
  const redisPassword = 'redis-test-password'
  const sentinelPassword = 'sentinel-test-password'
  const [db, sentinel] = await Promise.all([
    startOrganizationsDb(t),
    startSentinel(t, { tls: { ...certs.server, caFile: certs.caFile }, password: redisPassword, sentinelPassword })
  ])
  const manifests = renderChart({
    values: [examplePath('sentinel-values.yaml')],
    set: {
      ...await localAddresses(issuer),
      'config.mappings.mysql.host': '127.0.0.1',
      'config.mappings.mysql.port': db.port,
      'config.cache.redis.sentinel.masterName': sentinel.masterName,
      'config.cache.redis.sentinel.nodes': sentinel.nodes,
      'secrets.mysqlPassword': db.password,
      'secrets.redisPassword': redisPassword,
      'secrets.sentinelPassword': sentinelPassword
    }
  })
  const { ready } = await podStartsReady(t, { manifests, secrets: { 'redis-tls': { 'ca.crt': readFileSync(certs.caFile, 'utf8') } } })
  t.match(ready.body.dependencies, { cache: { state: 'up', detail: new RegExp(`^redis sentinel ${sentinel.masterName} → 127\\.0\\.0\\.1:${sentinel.primary.port} \\(primary\\), TLS verified`) } }, 'the primary found through the sentinels, over verified TLS')
})
