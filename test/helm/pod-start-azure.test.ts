import t from 'tap'
import { readFileSync } from 'node:fs'
import { examplePath, renderChart } from '../helpers/helm-render.js'
import { makeCertificates } from '../helpers/certs.js'
import { startIssuer } from '../helpers/issuer.js'
import { localAddresses, podStartsReady } from '../helpers/pod-run.js'
import { startTlsBackends } from '../helpers/services.js'

// examples/azure-values.yaml as its Deployment runs it (CONTRACT.md §16): Azure Database for
// MySQL and Azure Cache for Redis over verified TLS, standing in here as a TLS MariaDB and a
// TLS-only Redis with a password; the CA comes from the Secret bookme-gateway-tls. Only
// addresses and credentials are overridden.
t.test('the azure example starts to /readyz 200 as its Deployment runs it', async (t) => {
  const certs = makeCertificates(t)
  const issuer = await startIssuer(t)
  const redisPassword = 'azure-cache-access-key'
  const { db, redis } = await startTlsBackends(t, certs, redisPassword)
  const manifests = renderChart({
    values: [examplePath('azure-values.yaml')],
    set: { ...await localAddresses(issuer), 'config.mappings.mysql.host': '127.0.0.1', 'config.mappings.mysql.port': db.port, 'config.cache.redis.url': redis.url }
  })
  const { ready } = await podStartsReady(t, {
    manifests,
    secrets: {
      'bookme-gateway-secrets': { 'mysql-password': db.password, 'redis-password': redisPassword },
      'bookme-gateway-tls': { 'ca.pem': readFileSync(certs.caFile, 'utf8') }
    }
  })
  t.match(ready.body.dependencies, { source: { state: 'up', detail: /TLS verified/ }, cache: { state: 'up', detail: /TLS verified/ } }, 'both backends answer over verified TLS')
})
