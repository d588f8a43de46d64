import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { examplePath, manifestOf, renderChart, type Manifest } from '../helpers/helm-render.js'
import { makeCertificates } from '../helpers/certs.js'
import { startIssuer } from '../helpers/issuer.js'
import { localAddresses, podStartsReady } from '../helpers/pod-run.js'
import { startTlsBackends } from '../helpers/services.js'

// examples/production-values.yaml, the example a bank copies, as its Deployment runs it
// (CONTRACT.md §16): MySQL with tls verify-full and Redis over rediss://, both verified against
// the CA from the Secret bookme-gateway-tls, against servers that accept nothing else (the
// MySQL user REQUIRE SSL, Redis on a TLS-only port). The Secrets the example expects to exist
// are the test's; only addresses and credentials are overridden.
t.test('the production example: encrypted, verified backends, as written', async (t) => {
  const config = parse((manifestOf<{ data: Record<string, string> }>(renderChart({ values: [examplePath('production-values.yaml')] }), 'ConfigMap', 'ci-bookme-gateway').data['gateway.yaml'])!) as {
    mappings: { mysql: { tls: { mode: string, caFile: string } } }, cache: { redis: { url: string, tls: { mode?: string, caFile: string } } }
  }
  t.match(config.mappings.mysql.tls, { mode: 'verify-full', caFile: /^\/etc\/bookme-gateway\/tls\// }, 'MySQL: chain and host name checked against the mounted CA')
  t.match(config.cache.redis.url, /^rediss:\/\//, 'Redis over TLS')
  t.match(config.cache.redis.tls, { caFile: /^\/etc\/bookme-gateway\/tls\// })
  t.not(config.cache.redis.tls.mode, 'required', 'Redis: the certificate is verified')
})

t.test('the production example starts to /readyz 200 as its Deployment runs it, against TLS-only MySQL and Redis', async (t) => {
  const certs = makeCertificates(t)
  const issuer = await startIssuer(t)
  const redisPassword = 'redis-test-password'
  const { db, redis } = await startTlsBackends(t, certs, redisPassword)
  const manifests: Manifest[] = renderChart({
    values: [examplePath('production-values.yaml')],
    set: { ...await localAddresses(issuer), 'config.mappings.mysql.host': '127.0.0.1', 'config.mappings.mysql.port': db.port, 'config.cache.redis.url': redis.url }
  })
  const secrets = {
    'bookme-gateway-secrets': { 'mysql-password': db.password, 'redis-password': redisPassword, 'graph-secret': 'graph-test-secret' },
    'bookme-gateway-tls': { 'ca.pem': readFileSync(certs.caFile, 'utf8') },
    'bookme-gateway-assertion-2026-12': { '2026-12.pem': generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }
  }
  const { ready } = await podStartsReady(t, { manifests, secrets }, async (pod) => {
    const jwks = await (await fetch(`http://127.0.0.1:${pod.ports.admin}/jwks.json`)).json() as { keys: Array<{ kid: string }> }
    t.same(jwks.keys.map((k) => k.kid), ['2026-12'], 'the assertion key from its Secret is published')
  })
  t.match(ready.body.dependencies, {
    source: { state: 'up', detail: /^mysql 127\.0\.0\.1:\d+\/bp_organizations_db, TLS verified/ },
    cache: { state: 'up', detail: /^redis standalone 127\.0\.0\.1:\d+ \(primary\), TLS verified/ }
  }, 'both backends answer over verified TLS')
})
