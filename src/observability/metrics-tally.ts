/**
 * Per-request metrics counted in plain numbers and handed to prom-client only when scraped.
 * prom-client validates and hashes the label set on every call (a closure, a label object, a
 * sorted key string, a bucket found by its number turned into a property name): four calls per
 * request were about 3 % of the gateway's CPU. The exposition is what prom-client writes.
 */
import { Counter, type LabelValues, type Registry } from 'prom-client'

/** One label set of a counter: `inc` adds to a number; the counter takes it when collected. */
export interface CounterTally { inc (): void }

export interface TalliedCounter<L extends string> extends Counter<L> {
  /** A tally for one label set, bound once (a label set is a few fixed values). */
  tally (labels: LabelValues<L>): CounterTally
}

export function talliedCounter<L extends string> (registry: Registry, name: string, help: string, labelNames: L[]): TalliedCounter<L> {
  // By label set: an app built again by a reload binds the same label sets and must count into them.
  const tallies = new Map<string, { labels: LabelValues<L>, count: number }>()
  const counter = new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect () {
      for (const tally of tallies.values()) {
        if (tally.count === 0) continue
        this.inc(tally.labels, tally.count)
        tally.count = 0
      }
    }
  })
  return Object.assign(counter, {
    tally (labels: LabelValues<L>): CounterTally {
      const key = JSON.stringify(labels)
      let entry = tallies.get(key)
      if (entry === undefined) tallies.set(key, entry = { labels, count: 0 })
      const bound = entry
      return { inc () { bound.count++ } }
    }
  })
}

/** One line of a metric as prom-client's registry reads it from `get()`. */
interface MetricLine { labels: Record<string, string | number>, sharedLabels?: Record<string, string>, value: number, metricName: string }
interface MetricLines { name: string, help: string, type: string, values: MetricLine[], aggregator: string }

interface Series { labels: Record<string, string>, buckets: Float64Array, sum: number, count: number }

/**
 * A histogram whose series are bound once per label set and observed with a bucket scan over a
 * typed array. Registered on the registry as a metric of its own (prom-client reads `get()`).
 */
export class TalliedHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  // By label set: an app built again by a reload observes into the series it had, never a second one.
  private readonly series = new Map<string, Series>()

  constructor (registry: Registry, readonly name: string, readonly help: string, private readonly upperBounds: readonly number[]) {
    registry.registerMetric(this as never)
  }

  /** The observer of one label set. */
  observer (labels: Record<string, string>): (value: number) => void {
    const key = JSON.stringify(labels)
    let series = this.series.get(key)
    if (series === undefined) this.series.set(key, series = { labels, buckets: new Float64Array(this.upperBounds.length), sum: 0, count: 0 })
    const bound = series
    const bounds = this.upperBounds
    return function observe (value) {
      for (let i = 0; i < bounds.length; i++) {
        if (value <= bounds[i]!) { bound.buckets[i]!++; break }
      }
      bound.sum += value
      bound.count++
    }
  }

  /** prom-client's histogram shape: cumulative `_bucket` lines with `le`, then `_sum` and `_count`. */
  async getForPromString (): Promise<MetricLines> {
    const values: MetricLine[] = []
    for (const { labels, buckets, sum, count } of this.series.values()) {
      let cumulative = 0
      this.upperBounds.forEach((le, i) => {
        cumulative += buckets[i]!
        values.push({ labels: { le }, sharedLabels: labels, value: cumulative, metricName: `${this.name}_bucket` })
      })
      values.push({ labels: { le: '+Inf' }, sharedLabels: labels, value: count, metricName: `${this.name}_bucket` })
      values.push({ labels, value: sum, metricName: `${this.name}_sum` })
      values.push({ labels, value: count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  /** The same with each series' labels merged into its bucket lines (registry JSON). */
  async get (): Promise<MetricLines> {
    const metric = await this.getForPromString()
    const values = metric.values.map(({ sharedLabels, ...value }) => ({ ...value, labels: { ...value.labels, ...sharedLabels } }))
    return { ...metric, values }
  }

  reset (): void {
    for (const series of this.series.values()) {
      series.buckets.fill(0)
      series.sum = 0
      series.count = 0
    }
  }
}
