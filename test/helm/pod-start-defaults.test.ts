import t from 'tap'
import { renderChart } from '../helpers/helm-render.js'
import { startIssuer } from '../helpers/issuer.js'
import { localAddresses, podStartsReady } from '../helpers/pod-run.js'

// The chart's default values, rendered by Helm 4 and run as their Deployment would run them
// (CONTRACT.md §16). They ask for nothing outside the cluster but Entra: file mappings, the
// in-process cache, no assertion key.
t.test('the default values start to /readyz 200 as their Deployment runs them', async (t) => {
  const issuer = await startIssuer(t)
  const manifests = renderChart({ set: await localAddresses(issuer) })
  const { pod } = await podStartsReady(t, { manifests })
  t.same(pod.argv, ['/nodejs/bin/node', 'dist/cli.js', 'start', '--config', '/etc/bookme-gateway/config/gateway.yaml'], 'the image\'s entrypoint, then the chart\'s args')
  t.equal(pod.env.BOOKME_GATEWAY_CONFIG, '/etc/bookme-gateway/config/gateway.yaml', 'the default config path is where the chart mounts it')
})
