/**
 * `decisions_total{bank, decision, code}`: exposed as prom-client's own counter would expose it,
 * with at most a bounded number of banks holding series, idle banks giving their place up, and
 * the rest counted under `_other`.
 */
import t from 'tap'
import { Counter, Registry } from 'prom-client'
import { BankDecisions, OTHER_BANKS } from '../../src/observability/bank-decisions.js'

const NAME = 'bookme_gateway_decisions_total'

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
  t.equal((await registry.getMetricsAsJSON())[0]!.values.length, 5, 'the JSON form lists every series')
})

t.test('past the bound, banks are counted under _other; nothing is lost', async (t) => {
  const registry = new Registry()
  const decisions = new BankDecisions(registry, NAME, 'h', { limit: 3 })
  for (let bank = 1; bank <= 5; bank++) decisions.count(String(bank), 'allow', '')
  decisions.count('5', 'deny', 'PRINCIPAL_BLOCKED')
  decisions.count('1', 'allow', '')
  t.same(seriesOf(await registry.metrics()), [
    `${NAME}{bank="1",decision="allow",code=""} 2`,
    `${NAME}{bank="2",decision="allow",code=""} 1`,
    `${NAME}{bank="3",decision="allow",code=""} 1`,
    `${NAME}{bank="${OTHER_BANKS}",decision="allow",code=""} 2`,
    `${NAME}{bank="${OTHER_BANKS}",decision="deny",code="PRINCIPAL_BLOCKED"} 1`
  ].sort())
})

t.test('a bank idle for the idle time gives its place up; a live one keeps it', async (t) => {
  let now = 0
  const registry = new Registry()
  const decisions = new BankDecisions(registry, NAME, 'h', { limit: 2, idleMs: 60_000, now: () => now })
  decisions.count('live', 'allow', '')
  decisions.count('idle', 'allow', '')
  await registry.metrics() // a scrape notes where each count stands, and since when
  now = 30_000
  decisions.count('live', 'allow', '')
  await registry.metrics()
  now = 59_000
  t.same(seriesOf(await registry.metrics()), [
    `${NAME}{bank="idle",decision="allow",code=""} 1`,
    `${NAME}{bank="live",decision="allow",code=""} 2`
  ], 'idle for 59 s: kept')

  now = 60_000
  decisions.count('new', 'allow', '') // the bound is full: idle for 60 s, its place is freed
  now = 61_000
  decisions.count('later', 'allow', '') // full again, and no second look within 10 s
  t.same(seriesOf(await registry.metrics()), [
    `${NAME}{bank="${OTHER_BANKS}",decision="allow",code=""} 1`,
    `${NAME}{bank="live",decision="allow",code=""} 2`,
    `${NAME}{bank="new",decision="allow",code=""} 1`
  ], 'the newcomer took the idle bank\'s place; the next is counted under _other')

  now = 100_000
  decisions.count('new', 'allow', '')
  now = 150_000
  t.same(seriesOf(await registry.metrics()), [
    `${NAME}{bank="${OTHER_BANKS}",decision="allow",code=""} 1`,
    `${NAME}{bank="new",decision="allow",code=""} 2`
  ], 'a scrape frees the places of banks idle for 60 s (live: last counted at 30 s)')
  decisions.count('later', 'allow', '')
  t.match(await registry.metrics(), `${NAME}{bank="later",decision="allow",code=""} 1`, 'a freed place is taken at once')
})

t.test('reset empties every series', async (t) => {
  const registry = new Registry()
  const decisions = new BankDecisions(registry, NAME, 'h', { limit: 1 })
  decisions.count('1', 'allow', '')
  decisions.count('2', 'deny', 'BANK_DISABLED')
  registry.resetMetrics()
  t.same(seriesOf(await registry.metrics()), [])
  decisions.count('2', 'allow', '')
  t.same(seriesOf(await registry.metrics()), [`${NAME}{bank="2",decision="allow",code=""} 1`])
})
