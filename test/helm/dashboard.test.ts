import t from 'tap'
import { readFileSync } from 'node:fs'
import { chartPath, manifestOf, renderChart, type Manifest } from '../helpers/helm-render.js'

// The Grafana dashboard of helm/bookme-gateway/files/dashboard.json, shipped in a ConfigMap for
// Grafana's dashboard sidecar. That every panel's query returns data from a real gateway is
// dashboard-live.test.ts.
interface Target { expr: string, refId: string, datasource: { uid: string } }
interface Panel { id: number, type: string, title: string, gridPos: { x: number, y: number, w: number, h: number }, targets?: Target[], datasource?: { uid: string } }
interface Dashboard { uid: string, title: string, panels: Panel[], templating: { list: Array<{ name: string }> } }
type ConfigMap = Manifest & { data: Record<string, string> }

const file = readFileSync(chartPath('files/dashboard.json'), 'utf8')
const dashboardOf = (manifests: Manifest[]): ConfigMap => manifestOf<ConfigMap>(manifests, 'ConfigMap', 'ci-bookme-gateway-dashboard')

t.test('the dashboard ConfigMap is on by default, labelled for the sidecar, and holds the file as JSON', async (t) => {
  const map = dashboardOf(renderChart())
  t.match(map.metadata.labels, { grafana_dashboard: '1', 'app.kubernetes.io/name': 'bookme-gateway' })
  t.same(Object.keys(map.data), ['bookme-gateway.json'])
  const dashboard = JSON.parse(map.data['bookme-gateway.json']!) as Dashboard
  t.same(dashboard, JSON.parse(file), 'the file, unchanged')
  t.equal(dashboard.uid, 'bookme-gateway')
})

t.test('every panel queries the data source variable, the release\'s series, and fits the grid', async (t) => {
  const dashboard = JSON.parse(file) as Dashboard
  t.same(dashboard.templating.list.map((v) => v.name), ['datasource', 'namespace', 'job'])
  const panels = dashboard.panels.filter((p) => p.type !== 'row')
  t.ok(panels.length >= 20, `${panels.length} panels`)
  t.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, 'panel ids are unique')
  for (const panel of panels) {
    const problems: string[] = []
    if (panel.datasource?.uid !== '${datasource}') problems.push('panel data source is not ${datasource}')
    if (panel.gridPos.x + panel.gridPos.w > 24) problems.push('wider than the 24 columns')
    if ((panel.targets ?? []).length === 0) problems.push('no query')
    for (const target of panel.targets ?? []) {
      if (target.datasource.uid !== '${datasource}') problems.push(`${target.refId}: data source is not \${datasource}`)
      // Every selector names the release, so two releases (or a staging namespace) never mix.
      for (const [selector] of target.expr.matchAll(/\b(?:bookme_gateway_\w+|up)\{[^}]*\}/g)) {
        if (!/^\w+\{namespace="\$namespace", job="\$job"/.test(selector)) problems.push(`${target.refId}: ${selector} lacks the release's matchers`)
      }
      const bare = /\b(?:bookme_gateway_\w+|up)(?![\w{])/.exec(target.expr)
      if (bare) problems.push(`${target.refId}: ${bare[0]} without a selector`)
    }
    t.same(problems, [], panel.title)
  }
})

t.test('dashboards.enabled, namespace, labels and annotations', async (t) => {
  t.same(renderChart({ set: { 'dashboards.enabled': false } }).filter((m) => m.metadata.name.endsWith('-dashboard')), [], 'off')
  const map = dashboardOf(renderChart({ set: { 'dashboards.namespace': 'monitoring', 'dashboards.labels': { grafana_dashboard: null, team_dashboards: 'bookme' }, 'dashboards.annotations': { grafana_folder: 'BookMe' } } }))
  t.equal(map.metadata.namespace, 'monitoring')
  t.equal(map.metadata.labels?.grafana_dashboard, undefined, 'the default label dropped with null')
  t.equal(map.metadata.labels?.team_dashboards, 'bookme')
  t.same(map.metadata.annotations, { grafana_folder: 'BookMe' })
})
