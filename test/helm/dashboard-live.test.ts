import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { BANK_SERIES_LIMIT, OTHER_BANKS, UNRESOLVED } from '../../src/observability/bank-decisions.js'
import { eventually } from '../helpers/eventually.js'
import { startTestGateway } from '../helpers/gateway.js'
import { chartPath } from '../helpers/helm-render.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer, UNMAPPED_TENANT } from '../helpers/issuer.js'
import { freePort, managed } from '../helpers/services.js'
import { startUpstream } from '../helpers/upstream.js'

// The chart's alerts and dashboard against a real Prometheus (the Debian package prometheus)
// scraping a live gateway every second, with the rule file loaded as the chart ships it: every
// dashboard panel's query returns a series and every alert rule evaluates without error.
const RULES = chartPath('files/alerts.yaml')
const DASHBOARD = chartPath('files/dashboard.json')
// The target's labels as the Prometheus Operator sets them for release "ci" in namespace "test".
const NAMESPACE = 'test'
const JOB = 'ci-bookme-gateway'
/** Metrics the alerts and dashboard read that the gateway does not export yet (CONTRACT.md §14's reloads). */
const NOT_YET_EXPORTED = new Set(['bookme_gateway_config_reloads_total'])
/**
 * Series that appear only on an event this test does not cause (a WebSocket, a block, Graph, an
 * outage): their panels end in `or on() vector(0)`, a 0 rather than "No data". Every other panel
 * must show the gateway's own series, without that fallback.
 */
const EVENTS_NOT_CAUSED = new Set([
  'bookme_gateway_websocket_sessions', 'bookme_gateway_websocket_closed_total', 'bookme_gateway_blocked_requests_total',
  'bookme_gateway_jwks_unknown_kid_refetches_total', 'bookme_gateway_groups_lookups_total', 'bookme_gateway_mapping_stale_served_total',
  'bookme_gateway_blocks_lost_total', 'bookme_gateway_config_reloads_total'
])
const FALLBACK = ' or on() vector(0)'
/**
 * Tenants of one bank each, OVERFLOW more than the places left once bank 1001 has one: past the
 * bound of banks with series, so `bank="_other"` has a series as it would in production.
 */
const OVERFLOW = 10
const MANY_BANKS = Array.from({ length: BANK_SERIES_LIMIT - 1 + OVERFLOW }, (_, i) => ({
  tenantId: `aaaaaaaa-aaaa-4aaa-8aaa-${String(i).padStart(12, '0')}`,
  bankId: String(100_000 + i)
}))

interface QueryAnswer { status: string, error?: string, data?: { result: Array<{ metric: Record<string, string>, value: [number, string] }> } }
interface RulesAnswer { data: { groups: Array<{ rules: Array<{ name: string, query: string, health: string, lastError?: string, lastEvaluation: string }> }> } }
interface Dashboard { panels: Array<{ type: string, title: string, targets?: Array<{ expr: string, refId: string }> }> }

t.test('a real Prometheus scraping a live gateway: every panel has data, every alert evaluates', async (t) => {
  // The gateway, with routes that answer each class: 200, 401, 403, 404, 429, an upstream's 500
  // and 502 for an upstream that refuses connections.
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t, (req, res) => {
    res.statusCode = req.url?.includes('/fail') === true ? 500 : 200
    res.setHeader('content-type', 'application/json')
    res.end('{}')
  })
  const closed = `http://127.0.0.1:${await freePort()}`
  const routes = [
    { name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Employee'] },
    { name: 'limited', prefix: '/api/limited', upstream: upstream.url, api: 'management', roles: ['Employee'] },
    { name: 'gone', prefix: '/api/gone', upstream: closed, api: 'management', roles: ['Employee'] }
  ]
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url, { routes }),
    rateLimits: { policies: [{ name: 'tight', routes: ['limited'], limit: 2, windowSec: 3600 }] }
  }, {
    mappings: {
      banks: [...DEFAULT_MAPPINGS.banks, ...MANY_BANKS.map(({ bankId }) => ({ id: bankId, name: `Bank ${bankId}` }))],
      tenants: [...DEFAULT_MAPPINGS.tenants, ...MANY_BANKS.map(({ tenantId, bankId }) => ({ tenantId, banks: [bankId] }))],
      clients: DEFAULT_MAPPINGS.clients
    }
  })

  const employee = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const noRole = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Visitor'] } })
  const unmapped = issuer.mint({ tenantId: UNMAPPED_TENANT, audience: MGMT_CLIENT })
  const send = async (path: string, token?: string): Promise<number> => {
    const res = await fetch(gw.proxyUrl + path, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
    await res.arrayBuffer()
    return res.status
  }
  const load = async (): Promise<number[]> => await Promise.all([
    ...Array.from({ length: 10 }, async () => await send('/api/meetings/x', employee)),
    send('/api/meetings/x'),
    send('/api/meetings/x', 'not-a-jwt'),
    send('/api/meetings/x', noRole),
    send('/api/meetings/x', unmapped),
    send('/nowhere', employee),
    ...Array.from({ length: 3 }, async () => await send('/api/limited/x', employee)),
    send('/api/meetings/fail', employee),
    send('/api/gone/x', employee)
  ])
  // A request from each of the many banks, after the load: bank 1001 has its place, and the last
  // OVERFLOW banks find none.
  const manyBanks = MANY_BANKS.map(({ tenantId }) => issuer.mint({ tenantId, audience: MGMT_CLIENT }))
  const overflow = async (): Promise<number[]> => {
    const statuses: number[] = []
    for (let i = 0; i < manyBanks.length; i += 100) statuses.push(...await Promise.all(manyBanks.slice(i, i + 100).map(async (token) => await send('/api/meetings/x', token))))
    return statuses
  }
  t.same([...new Set(await load())].sort(), [200, 401, 403, 404, 429, 500, 502], 'the load answers every class')
  t.same([...new Set(await overflow())], [200], `${manyBanks.length} more banks answered`)

  // The exported metric names, to tell a misspelt name from a series that has no data yet.
  const exposition = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  const exported = new Set([...exposition.matchAll(/^# TYPE (\w+) (\w+)$/gm)].flatMap(([, name, type]) =>
    type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!]))

  // Prometheus: 1 s scrapes and rule evaluations, the chart's rule file as it is.
  const dir = mkdtempSync(join(tmpdir(), 'bookme-prometheus-'))
  const port = await freePort()
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify({
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: [RULES],
    scrape_configs: [{ job_name: JOB, static_configs: [{ targets: [new URL(gw.adminUrl).host], labels: { namespace: NAMESPACE, pod: 'ci-bookme-gateway-0' } }] }]
  }))
  const prometheus = managed(t, 'prometheus', dir, () => spawn('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/bin` } }), port, 15_000)
  await prometheus.start()
  const api = `http://127.0.0.1:${port}`
  // The port opens before the TSDB is: /-/ready answers 503 until then.
  const ready = await eventually(async () => (await fetch(`${api}/-/ready`)).status, (status) => status === 200, 15_000)
  t.equal(ready, 200, 'Prometheus is ready')
  const query = async (expr: string): Promise<QueryAnswer> =>
    await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`)).json() as QueryAnswer
  const series = (answer: QueryAnswer): number => answer.data?.result.length ?? 0
  /**
   * The labels an expression matches on or groups `by` that none of its metrics' series carry
   * (metrics this test gives no series to aside).
   */
  const missingLabels = async (expr: string): Promise<string[]> => {
    const carried = new Set<string>()
    const wanted = new Set(groupingLabels(expr))
    let read = false
    for (const { name, matched } of selectors(expr)) {
      if (EVENTS_NOT_CAUSED.has(name)) continue
      read = true
      for (const label of matched) wanted.add(label)
      for (const { metric } of (await query(`{__name__="${name}", job="${JOB}"}`)).data?.result ?? []) for (const label of Object.keys(metric)) carried.add(label)
    }
    return read ? [...wanted].filter((label) => !carried.has(label)) : []
  }

  const up = await eventually(async () => await query(`up{job="${JOB}", namespace="${NAMESPACE}"}`), (a) => a.data?.result[0]?.value[1] === '1', 15_000)
  t.equal(up.data?.result[0]?.value[1], '1', 'the gateway is scraped')
  // A second wave after the first scrape, so rates and quantiles have something to show.
  await load()
  await overflow()
  const fiveXx = await eventually(async () => await query(`sum(increase(bookme_gateway_requests_total{job="${JOB}", status_class="5xx"}[1m]))`), (a) => Number(a.data?.result[0]?.value[1] ?? 0) > 0, 15_000)
  t.ok(Number(fiveXx.data?.result[0]?.value[1] ?? 0) > 0, 'the second wave is scraped')

  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard
  const substitute = (expr: string): string => expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$namespace', NAMESPACE)
    .replaceAll('$job', JOB)

  t.test('every dashboard panel\'s query returns a series', async (t) => {
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      for (const target of panel.targets ?? []) {
        const expr = substitute(target.expr)
        t.notMatch(expr, /\$/, `${panel.title} ${target.refId}: every variable substituted`)
        const answer = await eventually(async () => await query(expr), (a) => a.status !== 'success' || series(a) > 0, 10_000)
        t.equal(answer.status, 'success', `${panel.title} ${target.refId}: ${answer.error ?? ''}`)
        t.ok(series(answer) > 0, `${panel.title} ${target.refId}: ${expr}`)
        const bare = expr.endsWith(FALLBACK) ? expr.slice(0, -FALLBACK.length) : expr
        if (metricNames(bare).some((name) => !EVENTS_NOT_CAUSED.has(name))) {
          t.ok(series(await eventually(async () => await query(bare), (a) => series(a) > 0, 10_000)) > 0, `${panel.title} ${target.refId}: the gateway's own series, no fallback`)
        }
        for (const name of metricNames(expr)) t.ok(exported.has(name) || NOT_YET_EXPORTED.has(name), `${panel.title}: the gateway exports ${name}`)
        t.same(await missingLabels(expr), [], `${panel.title} ${target.refId}: its metrics carry the labels it reads`)
      }
    }
    // The variables' own queries (label_values) find this release.
    const values = async (label: string, match: string): Promise<string[]> =>
      ((await (await fetch(`${api}/api/v1/label/${label}/values?match[]=${encodeURIComponent(match)}`)).json()) as { data: string[] }).data
    t.ok((await values('namespace', 'bookme_gateway_requests_total')).includes(NAMESPACE), '$namespace lists the namespace')
    t.ok((await values('job', `bookme_gateway_requests_total{namespace="${NAMESPACE}"}`)).includes(JOB), '$job lists the release')
  })

  t.test('the Banks row shows the load\'s banks, their refusals by code and the banks past the bound', async (t) => {
    const panel = (title: string): string => substitute(dashboard.panels.find((p) => p.title === title)?.targets?.[0]?.expr ?? `no panel ${title}`)
    const labels = async (title: string, done: (found: string[]) => boolean): Promise<string[]> => {
      const answer = await eventually(async () => await query(panel(title)),
        (a) => done((a.data?.result ?? []).map(({ metric }) => Object.values(metric).join(' '))), 15_000)
      t.equal(answer.status, 'success', `${title}: ${answer.error ?? ''}`)
      return (answer.data?.result ?? []).map(({ metric }) => Object.values(metric).join(' '))
    }
    // Bank 1001 (16 requests a wave), the unresolved (4) and the overflow (OVERFLOW) lead the
    // banks of one request a wave.
    const busiest = await labels('Requests by bank', (found) => found.length === 10 && ['1001', UNRESOLVED, OTHER_BANKS].every((b) => found.includes(b)))
    t.equal(busiest.length, 10, `the 10 busiest banks: ${busiest.join(', ')}`)
    for (const bank of ['1001', UNRESOLVED, OTHER_BANKS]) t.ok(busiest.includes(bank), `Requests by bank: ${bank}`)
    // Every refusal of the load (the gateway's own 502 among them), by the bank it was refused
    // for; no allowed request among them.
    const refused = ['1001 NO_ROLE', '1001 RATE_LIMITED', '1001 UPSTREAM_UNAVAILABLE', `${UNRESOLVED} TOKEN_MISSING`, `${UNRESOLVED} TOKEN_MALFORMED`, `${UNRESOLVED} TENANT_NOT_MAPPED`, `${UNRESOLVED} ROUTE_NOT_FOUND`]
    const denials = await labels('Denials by bank and code', (found) => refused.every((pair) => found.includes(pair)))
    t.same([...denials].sort(), [...refused].sort(), 'Denials by bank and code: every refusal of the load')
    const other = await eventually(async () => await query(panel('Requests under _other')), (a) => Number(a.data?.result[0]?.value[1] ?? 0) > 0, 15_000)
    t.same(other.data?.result.map(({ metric }) => metric), [{ pod: 'ci-bookme-gateway-0' }], 'Requests under _other: the pod past the bound')
    t.ok(Number(other.data?.result[0]?.value[1] ?? 0) > 0, 'Requests under _other: its requests')
  })

  t.test('every alert rule is loaded and evaluates without error', async (t) => {
    const file = parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string, expr: string }> }> }
    const rules = file.groups.flatMap((g) => g.rules)
    // Evaluated after the scrapes above, on the gateway's series.
    const since = Date.now()
    const loaded = await eventually(async () => (await (await fetch(`${api}/api/v1/rules`)).json()) as RulesAnswer,
      (a) => a.data.groups.flatMap((g) => g.rules).every((r) => r.health !== 'unknown' && Date.parse(r.lastEvaluation) > since), 10_000)
    const evaluated = loaded.data.groups.flatMap((g) => g.rules)
    t.same(evaluated.map((r) => r.name), rules.map((r) => r.alert), 'Prometheus loaded every alert of the rule file')
    for (const rule of evaluated) {
      t.equal(rule.health, 'ok', `${rule.name}: health ${rule.health} ${rule.lastError ?? ''}`)
      t.ok(Date.parse(rule.lastEvaluation) > since, `${rule.name}: evaluated`)
    }
    for (const rule of rules) {
      const answer = await query(rule.expr)
      t.equal(answer.status, 'success', `${rule.alert}: its expression evaluates ${answer.error ?? ''}`)
      for (const name of metricNames(rule.expr)) t.ok(exported.has(name) || NOT_YET_EXPORTED.has(name), `${rule.alert}: the gateway exports ${name}`)
    }
    // What each alert reads is there: its metrics have series, carrying the labels it matches on
    // and groups by (a misspelt label would leave the alert silent for ever).
    for (const rule of rules) t.same(await missingLabels(rule.expr), [], `${rule.alert}: its metrics carry the labels it reads`)
    const reloads = await query(rules.find((r) => r.alert === 'BookmeGatewayConfigReloadFailed')!.expr)
    t.equal(reloads.status, 'success', 'the config reload alert evaluates (to nothing while the metric is missing)')
  })
})

/** Each selector of a metric (`bookme_gateway_…` or `up`) and the labels its matchers name. */
function selectors (expr: string): Array<{ name: string, matched: string[] }> {
  return [...expr.matchAll(/\b(bookme_gateway_\w+|up)\b(?:\{([^}]*)\})?/g)].map(([, name, matchers]) => ({
    name: name!,
    matched: [...(matchers ?? '').replace(/"[^"]*"/g, '""').matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!)
  }))
}

/** The labels of every `by (…)` and `on (…)`. */
function groupingLabels (expr: string): string[] {
  return [...expr.matchAll(/\b(?:by|on)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((label) => label.trim()).filter(Boolean))
}

/** The metric names an expression selects (`bookme_gateway_…`), without functions or labels. */
function metricNames (expr: string): string[] {
  return [...new Set([...expr.replace(/"[^"]*"/g, '""').matchAll(/\bbookme_gateway_\w+/g)].map((m) => m[0]))]
}
