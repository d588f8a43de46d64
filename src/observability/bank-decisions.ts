/**
 * `decisions_total{bank, decision, code}` (CONTRACT.md §14) with a bounded number of banks.
 *
 * A series per bank is what an operator reads for the banks that are live. Unbounded, a process
 * that meets 100,000 banks holds 100,000 series: ~60 MB of heap, and each scrape writes 7.6 MB
 * of text in ~0.4 s of blocked event loop (bench/README.md, "100,000 tenants"). So at most
 * `BANK_SERIES_LIMIT` banks have series at once, the default cardinality limit of
 * OpenTelemetry's metrics SDK. A bank gives its place up once its count has not moved for
 * `BANK_SERIES_IDLE_MS` as seen by the looks taken at each scrape and, while the bound is full,
 * at most once every 10 s (no clock is read per request, so idleness is known to within one
 * look). Prometheus then marks its series stale; when the bank comes back its series starts
 * again from zero, which `rate()` and `increase()` read as a counter reset, as after a
 * restart. A bank that finds no place is counted under `bank="_other"`, so every request is
 * still counted and the overflow shows as a series of its own. `none` (no bank resolved) is
 * never bounded or evicted: it is one series however many tenants are unmapped.
 *
 * Counts are plain numbers owned here and written straight into the exposition: no prom-client
 * label hashing per request, and no second copy of every series.
 */
import type { Registry } from 'prom-client'

export const BANK_SERIES_LIMIT = 2000
export const BANK_SERIES_IDLE_MS = 15 * 60_000
export const OTHER_BANKS = '_other'
/** CONTRACT.md §14: the `bank` of a request whose bank was not resolved. */
export const UNRESOLVED = 'none'

/** How often, at most, a bank finding the bound full looks for idle places to free. */
const FULL_SWEEP_INTERVAL_MS = 10_000

interface Outcome { decision: string, code: string, count: number }

class BankSeries {
  allowed = 0
  /** Every request counted, to tell an idle bank from a live one at a sweep. */
  total = 0
  /** Refused and reported outcomes, by `decision code`. */
  outcomes: Map<string, Outcome> | undefined = undefined
  totalAtSweep = 0
  movedAt: number

  constructor (now: number) { this.movedAt = now }

  count (decision: string, code: string): void {
    this.total++
    if (code === '' && decision === 'allow') {
      this.allowed++
      return
    }
    const key = code === '' ? decision : `${decision} ${code}`
    this.outcomes ??= new Map()
    const outcome = this.outcomes.get(key)
    if (outcome === undefined) this.outcomes.set(key, { decision, code, count: 1 })
    else outcome.count++
  }
}

interface MetricLine { labels: Record<string, string>, value: number }

export interface BankDecisionsOptions {
  limit?: number
  idleMs?: number
  now?: () => number
}

/** Registered on the registry as a metric of its own (prom-client reads `get()`). */
export class BankDecisions {
  readonly type = 'counter'
  readonly aggregator = 'sum'
  private readonly banks = new Map<string, BankSeries>()
  private other: BankSeries
  private unresolved: BankSeries
  private readonly limit: number
  private readonly idleMs: number
  private readonly now: () => number
  private sweptFullAt = -Infinity

  constructor (registry: Registry, readonly name: string, readonly help: string, { limit = BANK_SERIES_LIMIT, idleMs = BANK_SERIES_IDLE_MS, now = Date.now }: BankDecisionsOptions = {}) {
    this.limit = limit
    this.idleMs = idleMs
    this.now = now
    this.other = new BankSeries(now())
    this.unresolved = new BankSeries(now())
    registry.registerMetric(this as never)
  }

  /** Counts one request; `bank` is the active BankId or `none`. */
  count (bank: string, decision: string, code: string): void {
    (this.banks.get(bank) ?? (bank === UNRESOLVED ? this.unresolved : this.admit(bank))).count(decision, code)
  }

  private admit (bank: string): BankSeries {
    const now = this.now()
    if (this.banks.size >= this.limit && now - this.sweptFullAt >= FULL_SWEEP_INTERVAL_MS) {
      this.sweptFullAt = now
      this.sweep(now)
    }
    if (this.banks.size >= this.limit) return this.other
    const series = new BankSeries(now)
    this.banks.set(bank, series)
    return series
  }

  /** Frees the places of banks whose count has not moved for `idleMs`. */
  private sweep (now: number): void {
    for (const [bank, series] of this.banks) {
      if (series.total !== series.totalAtSweep) {
        series.totalAtSweep = series.total
        series.movedAt = now
      } else if (now - series.movedAt >= this.idleMs) {
        this.banks.delete(bank)
      }
    }
  }

  async get (): Promise<{ name: string, help: string, type: string, values: MetricLine[], aggregator: string }> {
    this.sweep(this.now())
    const values: MetricLine[] = []
    lines(values, UNRESOLVED, this.unresolved)
    for (const [bank, series] of this.banks) lines(values, bank, series)
    lines(values, OTHER_BANKS, this.other)
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  reset (): void {
    this.banks.clear()
    this.other = new BankSeries(this.now())
    this.unresolved = new BankSeries(this.now())
  }
}

function lines (values: MetricLine[], bank: string, series: BankSeries): void {
  if (series.allowed > 0) values.push({ labels: { bank, decision: 'allow', code: '' }, value: series.allowed })
  if (series.outcomes === undefined) return
  for (const { decision, code, count } of series.outcomes.values()) values.push({ labels: { bank, decision, code }, value: count })
}
