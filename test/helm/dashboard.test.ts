import t from 'tap'
import { readFileSync } from 'node:fs'
import { BANK_SERIES_LIMIT, OTHER_BANKS, UNRESOLVED } from '../../src/observability/bank-decisions.js'
import { chartPath, manifestOf, renderChart, type Manifest } from '../helpers/helm-render.js'

// The Grafana dashboard of helm/bookme-gateway/files/dashboard.json, shipped in a ConfigMap for
// Grafana's dashboard sidecar. That every panel's query returns data from a real gateway is
// dashboard-live.test.ts.
interface Target { expr: string, refId: string, legendFormat?: string, datasource: { uid: string } }
interface Panel { id: number, type: string, title: string, description?: string, gridPos: { x: number, y: number, w: number, h: number }, targets?: Target[], datasource?: { uid: string } }
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
      // A counter's value is where it started from (a restart, a bank's series given up after
      // 15 idle minutes): only its rate or increase means anything.
      for (const [read, fn, name, range] of target.expr.matchAll(/(?:\b(\w+)\()?\b(bookme_gateway_\w+_(?:total|bucket))\{[^}]*\}(\[[^\]]+\])?/g)) {
        if ((fn !== 'rate' && fn !== 'increase') || range === undefined) problems.push(`${target.refId}: ${name} read without rate() or increase() over a range: ${read}`)
      }
    }
    t.same(problems, [], panel.title)
  }
  // Rows included: no panel covers part of another.
  const overlaps: string[] = []
  for (const [i, a] of dashboard.panels.entries()) {
    for (const b of dashboard.panels.slice(i + 1)) {
      const g = a.gridPos
      const h = b.gridPos
      if (g.x < h.x + h.w && h.x < g.x + g.w && g.y < h.y + h.h && h.y < g.y + g.h) overlaps.push(`${a.title} (${a.id}) and ${b.title} (${b.id})`)
    }
  }
  t.same(overlaps, [], 'no two panels overlap')
})

t.test('the Banks row reads decisions_total: requests and denials per bank, and the requests past the bound of banks', async (t) => {
  const dashboard = JSON.parse(file) as Dashboard
  const row = dashboard.panels.find((p) => p.type === 'row' && p.title === 'Banks')
  if (row === undefined) return t.fail('a Banks row')
  const inRow = dashboard.panels.filter((p) => p.type !== 'row' && p.gridPos.y === row.gridPos.y + 1)
  t.same(inRow.map((p) => p.title), ['Requests by bank', 'Denials by bank and code', 'Requests under _other'])
  const [requests, denials, other] = inRow.map((p) => p.targets?.[0])
  const selector = (extra: string): string => `bookme_gateway_decisions_total{namespace="$namespace", job="$job"${extra}}[$__rate_interval]`
  t.equal(requests?.expr, `topk(10, sum by (bank) (rate(${selector('')})))`, 'the 10 busiest banks')
  t.equal(requests?.legendFormat, '{{bank}}')
  t.equal(denials?.expr, `topk(10, sum by (bank, code) (rate(${selector(', decision="deny"')})))`, 'the 10 largest bank and code pairs refused')
  t.equal(denials?.legendFormat, '{{bank}} {{code}}')
  // The overflow's bank is the gateway's own constant; a pod's bound, so by pod.
  t.equal(other?.expr, `sum by (pod) (rate(${selector(`, bank="${OTHER_BANKS}"`)})) or on() vector(0)`, 'requests under _other, by pod')
  // What an operator reads off the panels: the unresolved and overflow banks, the bound and the idle restart.
  const bound = BANK_SERIES_LIMIT.toLocaleString('en')
  t.match(inRow[0]?.description, new RegExp(`${UNRESOLVED}: no bank resolved; ${OTHER_BANKS}: banks past a pod's bound of ${bound}.*15 minutes.*from zero`))
  t.match(inRow[2]?.description, new RegExp(`more than ${bound} banks were live within 15 minutes`))
})

t.test('dashboards.enabled, namespace, labels and annotations', async (t) => {
  t.same(renderChart({ set: { 'dashboards.enabled': false } }).filter((m) => m.metadata.name.endsWith('-dashboard')), [], 'off')
  const map = dashboardOf(renderChart({ set: { 'dashboards.namespace': 'monitoring', 'dashboards.labels': { grafana_dashboard: null, team_dashboards: 'bookme' }, 'dashboards.annotations': { grafana_folder: 'BookMe' } } }))
  t.equal(map.metadata.namespace, 'monitoring')
  t.equal(map.metadata.labels?.grafana_dashboard, undefined, 'the default label dropped with null')
  t.equal(map.metadata.labels?.team_dashboards, 'bookme')
  t.same(map.metadata.annotations, { grafana_folder: 'BookMe' })
})
