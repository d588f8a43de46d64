import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { chartPath, manifestOf, renderChart, type Manifest } from '../helpers/helm-render.js'

// The alerts of helm/bookme-gateway/files/alerts.yaml: checked and unit-tested by promtool (the
// Debian package prometheus), each with a firing and a quiet case, a runbook in the chart's
// README, and shipped unchanged as the PrometheusRule's spec. dashboard-live.test.ts evaluates
// every expression against a real Prometheus scraping a real gateway.
const RULES = chartPath('files/alerts.yaml')
const UNIT_TESTS = fileURLToPath(new URL('fixtures/alerts.test.yaml', import.meta.url))
const RUNBOOK_BASE = 'https://github.com/bookme/bookme-gateway/blob/main/helm/bookme-gateway/README.md'
const PROMETHEUS_RULE_API = ['--api-versions', 'monitoring.coreos.com/v1/PrometheusRule']

interface Rule { alert: string, expr: string, for?: string, labels: Record<string, string>, annotations: Record<string, string> }
interface UnitTests { tests: Array<{ alert_rule_test?: Array<{ alertname: string, exp_alerts?: Array<{ exp_labels: Record<string, string> }> }> }> }

const ruleFile = parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ name: string, rules: Rule[] }> }
const rules = ruleFile.groups.flatMap((group) => group.rules)

function promtool (...args: string[]): { status: number | null, output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8', timeout: 20_000, env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/bin` } })
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}` }
}

t.test('promtool checks the rule file and passes its unit tests', async (t) => {
  const check = promtool('check', 'rules', RULES)
  t.equal(check.status, 0, `promtool check rules (install the Debian package prometheus):\n${check.output}`)
  t.match(check.output, `SUCCESS: ${rules.length} rules found`)
  const test = promtool('test', 'rules', UNIT_TESTS)
  t.equal(test.status, 0, `promtool test rules:\n${test.output}`)
})

t.test('every alert has a firing and a quiet unit test, with its severity', async (t) => {
  const cases = (parse(readFileSync(UNIT_TESTS, 'utf8')) as UnitTests).tests.flatMap((test) => test.alert_rule_test ?? [])
  const names = new Set(rules.map((rule) => rule.alert))
  t.equal(names.size, rules.length, 'alert names are unique')
  for (const tested of new Set(cases.map((c) => c.alertname))) t.ok(names.has(tested), `${tested}: tested, and in the rule file`)
  for (const rule of rules) {
    const mine = cases.filter((c) => c.alertname === rule.alert)
    const firing = mine.filter((c) => (c.exp_alerts ?? []).length > 0)
    t.ok(firing.length > 0, `${rule.alert}: a case where it fires`)
    t.ok(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${rule.alert}: a case where it stays quiet`)
    for (const c of firing) for (const alert of c.exp_alerts!) t.equal(alert.exp_labels.severity, rule.labels.severity, `${rule.alert}: fires with severity ${rule.labels.severity}`)
  }
})

t.test('every alert says what happened, how bad, and links its runbook in the chart\'s README', async (t) => {
  const readme = readFileSync(chartPath('README.md'), 'utf8')
  // GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes.
  const anchors = new Set([...readme.matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')))
  t.ok(anchors.has('alerts-and-runbooks'), 'README has "Alerts and runbooks"')
  for (const rule of rules) {
    t.match(rule.labels, { severity: /^(warning|critical)$/ }, `${rule.alert}: severity`)
    t.ok(rule.annotations.summary && rule.annotations.description, `${rule.alert}: summary and description`)
    t.equal(rule.annotations.runbook_url, `${RUNBOOK_BASE}#${rule.alert.toLowerCase()}`, `${rule.alert}: runbook_url`)
    t.ok(anchors.has(rule.alert.toLowerCase()), `${rule.alert}: README has its runbook heading`)
    const section = readme.split(/^#+ /m).find((s) => s.startsWith(`${rule.alert}\n`)) ?? ''
    for (const part of ['What it means', 'Look at', 'What to do']) t.match(section, `**${part}**`, `${rule.alert}: the runbook says ${part.toLowerCase()}`)
  }
})

t.test('the chart ships the rule file as the PrometheusRule\'s spec where the Prometheus Operator\'s API exists', async (t) => {
  type PrometheusRule = Manifest & { spec: unknown }
  const rendered = manifestOf<PrometheusRule>(renderChart({ args: PROMETHEUS_RULE_API }), 'PrometheusRule')
  t.equal(rendered.apiVersion, 'monitoring.coreos.com/v1')
  t.same(rendered.spec, ruleFile, 'spec.groups are the rule file\'s, unchanged')
  t.equal(rendered.metadata.namespace, undefined, 'in the release\'s namespace')

  t.same(renderChart().filter((m) => m.kind === 'PrometheusRule'), [], 'no PrometheusRule where the API is not served')
  t.same(renderChart({ args: PROMETHEUS_RULE_API, set: { 'prometheusRule.enabled': false } }).filter((m) => m.kind === 'PrometheusRule'), [], 'prometheusRule.enabled: false turns it off')

  const mirror = 'https://git.bank.example/platform/bookme-gateway/-/blob/main/helm/bookme-gateway/README.md'
  const custom = manifestOf<PrometheusRule>(renderChart({
    args: PROMETHEUS_RULE_API,
    set: { 'prometheusRule.namespace': 'monitoring', 'prometheusRule.labels': { release: 'kube-prometheus-stack' }, 'prometheusRule.runbookBaseUrl': `${mirror}/` }
  }), 'PrometheusRule')
  t.equal(custom.metadata.namespace, 'monitoring')
  t.match(custom.metadata.labels, { release: 'kube-prometheus-stack', 'app.kubernetes.io/name': 'bookme-gateway' })
  const links = (custom.spec as typeof ruleFile).groups.flatMap((g) => g.rules).map((r) => r.annotations.runbook_url)
  t.same(links, rules.map((r) => `${mirror}#${r.alert.toLowerCase()}`), 'runbookBaseUrl moves every runbook link, nothing else')
  t.same(JSON.parse(JSON.stringify(custom.spec).replaceAll(mirror, RUNBOOK_BASE)), ruleFile)
})
