/**
 * The generic cell rate algorithm (GCRA, ITU-T I.371 as "virtual scheduling"): one number per
 * key, the theoretical arrival time (TAT) of the next request at the steady rate. A request is
 * admitted when, after it, the TAT runs no further ahead of now than `burst` intervals. From idle
 * exactly `burst` requests pass at once, then one every `interval`; a key that falls idle expires
 * on its own once its TAT is in the past. The same rule runs in Redis (counting-script.ts) and
 * in memory (`createLocalCounters`); times are whole microseconds, so both compute exactly.
 */

/** One policy's rate, as the algorithm counts it. */
export interface GcraRule {
  /** µs between two admitted requests at the steady rate: window / limit. */
  intervalUs: number
  /** µs the TAT may run ahead of now: burst × interval. */
  capacityUs: number
}

export interface GcraOutcome {
  admitted: boolean
  /** Per rule, in order: requests still admitted at once after this one. */
  remaining: number[]
  /** Per rule: µs until one more request is admitted (0 when `remaining` > 0). */
  waitUs: number[]
}

export function gcraRule (limit: number, windowSec: number, burst: number): GcraRule {
  const intervalUs = Math.max(1, Math.round(windowSec * 1_000_000 / limit))
  return { intervalUs, capacityUs: intervalUs * burst }
}

/**
 * One decision over several keys at once: admitted only if every rule admits, and then every
 * TAT moves on; refused, none does (a refused request uses no allowance). `tats` holds each
 * key's stored TAT (0 for none) and receives the new ones.
 */
export function gcraDecide (tats: number[], rules: readonly GcraRule[], nowUs: number): GcraOutcome {
  let admitted = true
  const next: number[] = []
  for (let i = 0; i < rules.length; i++) {
    const { intervalUs, capacityUs } = rules[i]!
    const tat = Math.max(tats[i] ?? 0, nowUs) + intervalUs
    next.push(tat)
    if (tat - nowUs > capacityUs) admitted = false
  }
  const remaining: number[] = []
  const waitUs: number[] = []
  for (let i = 0; i < rules.length; i++) {
    const { intervalUs, capacityUs } = rules[i]!
    if (admitted) tats[i] = next[i]!
    const after = Math.max(tats[i] ?? 0, nowUs)
    remaining.push(Math.max(0, Math.floor((capacityUs - (after - nowUs)) / intervalUs)))
    waitUs.push(Math.max(0, after + intervalUs - capacityUs - nowUs))
  }
  return { admitted, remaining, waitUs }
}

/** µs since the epoch, from the monotonic clock's origin (Date.now has only ms). */
export function nowMicros (): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000)
}

export interface LocalCounters {
  decide (keys: readonly string[], rules: readonly GcraRule[]): GcraOutcome
  readonly size: number
}

/**
 * GCRA state in one process's memory: the memory counter store, and each pod's fallback while
 * the shared one is away. Keys whose TAT has passed hold nothing and are swept, amortised: a sweep
 * when the map has doubled since the last one.
 */
export function createLocalCounters (now: () => number = nowMicros): LocalCounters {
  const tats = new Map<string, number>()
  let sweepAt = 1024
  return {
    decide (keys, rules) {
      const at = now()
      const current = keys.map((key) => tats.get(key) ?? 0)
      const outcome = gcraDecide(current, rules, at)
      if (outcome.admitted) keys.forEach((key, i) => tats.set(key, current[i]!))
      if (tats.size >= sweepAt) {
        for (const [key, tat] of tats) if (tat <= at) tats.delete(key)
        sweepAt = Math.max(1024, tats.size * 2)
      }
      return outcome
    },
    get size () { return tats.size }
  }
}
