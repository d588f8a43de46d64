import t from 'tap'
import { chartPath, examplePath, helm, manifestOf, renderChart, type Manifest } from '../helpers/helm-render.js'

// The ServiceMonitor (README "Alerts and runbooks"): on by default where the cluster serves the
// Prometheus Operator's API, as the PrometheusRule is (CONTRACT.md §14), so the alerts and the
// dashboard have their scrape job wherever they can run; `serviceMonitor.enabled` switches it off.
const SERVICE_MONITOR_API = ['--api-versions', 'monitoring.coreos.com/v1/ServiceMonitor']
interface ServiceMonitor { spec: { selector: { matchLabels: Record<string, string> }, endpoints: Array<{ port: string, path: string, interval: string }> } }
const monitors = (manifests: Manifest[]): Manifest[] => manifests.filter((m) => m.kind === 'ServiceMonitor')

t.test('rendered by default where monitoring.coreos.com/v1 ServiceMonitor is served, scraping the admin port of the release\'s Service', async (t) => {
  const manifests = renderChart({ args: SERVICE_MONITOR_API })
  const monitor = manifestOf<ServiceMonitor>(manifests, 'ServiceMonitor')
  const service = manifestOf<{ spec: { selector: Record<string, string>, ports: Array<{ name: string }> } }>(manifests, 'Service')
  t.equal(monitor.apiVersion, 'monitoring.coreos.com/v1')
  t.same(monitor.spec.selector.matchLabels, service.spec.selector, 'selects the release\'s Service (its labels are the selector\'s)')
  t.match(service.metadata.labels, monitor.spec.selector.matchLabels)
  t.same(monitor.spec.endpoints, [{ port: 'admin', path: '/metrics', interval: '30s' }], 'the admin port\'s /metrics, every 30 s')
  t.ok(service.spec.ports.some((p) => p.name === 'admin'), 'a Service port named admin')
})

t.test('not rendered where the API is not served (it would fail the install), nor when turned off', async (t) => {
  t.same(monitors(renderChart()), [], 'no API: no ServiceMonitor')
  t.same(monitors(renderChart({ values: [examplePath('production-values.yaml')] })), [], 'not even where the values turn it on')
  t.same(monitors(renderChart({ args: SERVICE_MONITOR_API, set: { 'serviceMonitor.enabled': false } })), [], 'serviceMonitor.enabled: false')
  t.same(monitors(renderChart({ args: ['--api-versions', 'monitoring.coreos.com/v1/PrometheusRule'] })), [], 'the PrometheusRule\'s API alone is not the ServiceMonitor\'s')
  const lint = helm(['lint', '--strict', chartPath()])
  t.equal(lint.status, 0, `helm lint --strict without the API: ${lint.stdout}${lint.stderr}`)
})

t.test('serviceMonitor.interval and labels (kube-prometheus-stack\'s serviceMonitorSelector)', async (t) => {
  const monitor = manifestOf<ServiceMonitor>(renderChart({ args: SERVICE_MONITOR_API, set: { 'serviceMonitor.interval': '15s', 'serviceMonitor.labels': { release: 'kube-prometheus-stack' } } }), 'ServiceMonitor')
  t.match(monitor.metadata.labels, { release: 'kube-prometheus-stack', 'app.kubernetes.io/name': 'bookme-gateway' })
  t.equal(monitor.spec.endpoints[0]!.interval, '15s')
  const production = manifestOf(renderChart({ values: [examplePath('production-values.yaml')], args: SERVICE_MONITOR_API }), 'ServiceMonitor')
  t.match(production.metadata.labels, { release: 'prometheus' }, 'the production example\'s label')
})
