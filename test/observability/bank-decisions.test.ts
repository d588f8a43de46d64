/**
 * `decisions_total{bank, decision, code}`: exposed as prom-client's own counter would expose it,
 * with at most a bounded number of banks holding series, idle banks giving their place up, and
 * the rest counted under `_other`.
 */
import t from 'tap'
import { Counter, Registry } from 'prom-client'
import { BankDecisions, OTHER_BANKS } from '../../src/observability/bank-decisions.js'

const NAME = 'bookme_gateway_decisions_total'

/** One line of the exposition, as prom-client writes it. */
function line (bank: string, count: number, decision = 'allow', code = ''): string {
  return `${NAME}{bank="${bank}",decision="${decision}",code="${code}"} ${count}`
}

function seriesOf (text: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${NAME}{`)).sort()
}

t.test('the exposition is what prom-client\'s own counter writes', async (t) => {
  const reference = new Registry()
  const referenceCounter = new Counter({ name: NAME, help: 'h', labelNames: ['bank', 'decision', 'code'], registers: [reference] })
  const registry = new Registry()
  const decisions = new BankDecisions(registry, NAME, 'h')
  const counted: Array<[string, string, string]> = [
    ['1001', 'allow', ''], ['1001', 'allow', ''], ['1001', 'deny', 'ROLE_REQUIRED'], ['none', 'deny', 'TENANT_NOT_MAPPED'],
    ['1002', 'report', 'RATE_LIMITED'], ['a "quoted"\\bank\n', 'allow', ''], ['1001', 'deny', 'ROLE_REQUIRED']
  ]
  for (const [bank, decision, code] of counted) {
    referenceCounter.inc({ bank, decision, code })
    decisions.count(bank, decision, code)
  }
  t.same(seriesOf(await registry.metrics()), seriesOf(await reference.metrics()))
  t.match(await registry.metrics(), `# HELP ${NAME} h\n# TYPE ${NAME} counter\n`)
  const json = (await registry.getMetricsAsJSON())[0]!
  const referenceJson = (await reference.getMetricsAsJSON())[0]!
  const sorted = (values: Array<{ labels: object, value: number }>): string[] => values.map(({ labels, value }) => JSON.stringify([labels, value])).sort()
  t.same(sorted(json.values), sorted(referenceJson.values), 'the JSON form: the same series and values')
  t.same([json.name, json.type], [referenceJson.name, referenceJson.type])
})

t.test('past the bound, banks are counted under _other; nothing is lost; none always has its own series', async (t) => {
  const registry = new Registry()
  const decisions = new BankDecisions(registry, NAME, 'h', { limit: 3 })
  for (let bank = 1; bank <= 5; bank++) decisions.count(String(bank), 'allow', '')
  decisions.count('5', 'deny', 'PRINCIPAL_BLOCKED')
  decisions.count('1', 'allow', '')
  decisions.count('none', 'deny', 'TENANT_NOT_MAPPED')
  t.same(seriesOf(await registry.metrics()), [
    line('1', 2),
    line('2', 1),
    line('3', 1),
    line('none', 1, 'deny', 'TENANT_NOT_MAPPED'),
    line(OTHER_BANKS, 2),
    line(OTHER_BANKS, 1, 'deny', 'PRINCIPAL_BLOCKED')
  ].sort())
})

t.test('a bank seen idle for the idle time gives its place up at a scrape; a live one keeps it; one that returns starts again', async (t) => {
  let now = 0
  const registry = new Registry()
  const decisions = new BankDecisions(registry, NAME, 'h', { limit: 3, idleMs: 60_000, now: () => now })
  decisions.count('live', 'allow', '')
  decisions.count('idle', 'allow', '')
  decisions.count('idle', 'allow', '')
  await registry.metrics() // the first look: both seen moving at 0
  now = 30_000
  decisions.count('live', 'allow', '')
  t.same(seriesOf(await registry.metrics()), [
    line('idle', 2),
    line('live', 2)
  ])
  now = 59_999
  t.same(seriesOf(await registry.metrics()), [
    line('idle', 2),
    line('live', 2)
  ], 'seen idle for just under 60 s: kept')
  now = 60_000
  t.same(seriesOf(await registry.metrics()), [
    line('live', 2)
  ], 'seen idle for 60 s: gone; live (seen moving at 30 s) kept')
  now = 61_000
  decisions.count('idle', 'deny', 'ROLE_REQUIRED')
  t.same(seriesOf(await registry.metrics()), [
    line('idle', 1, 'deny', 'ROLE_REQUIRED'),
    line('live', 2)
  ], 'back: its series starts again from its new requests')
})

t.test('a full bound frees idle places without a scrape, looking at most once every 10 s', async (t) => {
  let now = 0
  const registry = new Registry()
  const decisions = new BankDecisions(registry, NAME, 'h', { limit: 2, idleMs: 60_000, now: () => now })
  decisions.count('a', 'allow', '')
  await registry.metrics() // a seen moving at 0
  now = 5_000
  decisions.count('b', 'allow', '')
  await registry.metrics() // b seen moving at 5 s
  now = 60_000
  decisions.count('c', 'allow', '') // full; a is idle for 60 s: its place is c's
  now = 65_000
  decisions.count('d', 'allow', '') // full; b is idle for 60 s, but the last look was 5 s ago
  now = 69_999
  decisions.count('d', 'allow', '') // still within 10 s of the last look
  now = 70_000
  decisions.count('e', 'allow', '') // a look: b's place is e's
  const lines = seriesOf(await registry.metrics())
  t.same(lines, [
    line('c', 1),
    line('e', 1),
    line(OTHER_BANKS, 2)
  ].sort())
})

t.test('reset empties every series, _other and none included', async (t) => {
  const registry = new Registry()
  const decisions = new BankDecisions(registry, NAME, 'h', { limit: 1 })
  decisions.count('1', 'allow', '')
  decisions.count('2', 'deny', 'BANK_DISABLED')
  decisions.count('none', 'deny', 'TENANT_NOT_MAPPED')
  registry.resetMetrics()
  t.same(seriesOf(await registry.metrics()), [])
  decisions.count('2', 'allow', '')
  decisions.count('3', 'allow', '')
  decisions.count('none', 'deny', 'TENANT_NOT_MAPPED')
  t.same(seriesOf(await registry.metrics()), [
    line('2', 1),
    line('none', 1, 'deny', 'TENANT_NOT_MAPPED'),
    line(OTHER_BANKS, 1)
  ].sort())
})
