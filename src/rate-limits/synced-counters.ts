/**
 * GCRA counted from this pod's own view of each counter, reconciled with the shared one every
 * `syncMs` (`rateLimits.syncMs`; Kong's `sync_rate` design, on GCRA instead of fixed windows):
 * a request needs no round trip while its view is fresh. A reconcile sends, per key, the
 * admissions since the last one and this pod's own TAT, and reads back the shared TAT, which
 * then holds every pod's admissions (counting-script.ts, SYNC_SCRIPT).
 *
 * The bound: on one view a pod admits at most `quota` = ⌈syncMs / interval⌉ (at least 1) per
 * key, the requests the rate allows in `syncMs`; the next admission waits for a reconcile
 * started at once. So at most `pods × quota` admissions are ever decided without the others'
 * latest counts: that many beyond what the per-request script admits, and repaid afterwards,
 * since every admission reaches the shared TAT, which then refuses until it has drained. A key
 * this pod has not read yet waits for a reconcile too: a pod that admitted nothing still sees
 * what the others used. No I/O here: `send` runs the script.
 */
import type { MaybePromise } from '../maybe-promise.js'
import { gcraDecide, nowMicros, type GcraOutcome, type GcraRule } from './gcra.js'

/**
 * One reconcile: per key in `keys`, three numbers in `args` (admissions to add, interval, this
 * pod's TAT ahead of now, µs); resolves to each key's shared TAT ahead of the store's now (µs, ≥ 0).
 */
export type SendSync = (keys: string[], args: number[]) => Promise<number[]>

export interface SyncedCounters {
  /** The outcome at once from a fresh view; a promise when a key waits for a reconcile (rejected if it fails). */
  admit (keys: readonly string[], rules: readonly GcraRule[]): MaybePromise<GcraOutcome>
  /** Resolves once a reconcile started after this call has ended. */
  sync (): Promise<void>
  /** Keys this pod holds a view of. */
  readonly size: number
}

interface View {
  /** µs on this pod's clock: the shared TAT as last read, moved on by each admission here since. */
  tat: number
  intervalUs: number
  /** Admissions not sent yet. */
  pending: number
  /** Admissions since the shared TAT was last read: at most the quota. */
  sinceRead: number
  read: boolean
  /** A request waits for it to be read: the next reconcile, even an early one, sends it. */
  wanted: boolean
  /** The period (one every `syncMs`) it was last asked for in; idle a whole period, it is forgotten. */
  usedIn: number
}

interface Waiter { keys: readonly string[], rules: readonly GcraRule[], resolve: (outcome: GcraOutcome) => void, reject: (err: unknown) => void }

export function createSyncedCounters (syncMs: number, send: SendSync, now: () => number = nowMicros): SyncedCounters {
  const views = new Map<string, View>()
  let waiters: Waiter[] = []
  let running: Promise<void> | undefined
  /** Another reconcile once this one ends: of every view (the period's), or of the wanted ones. */
  let again: 'all' | 'wanted' | undefined
  let period = 0
  let soon = false
  let timer: NodeJS.Timeout | undefined
  /** Resolved when the next reconcile to start has ended. */
  let nextDone: Array<() => void> = []

  const quotaOf = (rule: GcraRule): number => Math.max(1, Math.ceil(syncMs * 1000 / rule.intervalUs))
  const viewOf = (key: string, rule: GcraRule): View => {
    let view = views.get(key)
    if (view === undefined) {
      view = { tat: 0, intervalUs: rule.intervalUs, pending: 0, sinceRead: 0, read: false, wanted: false, usedIn: period }
      views.set(key, view)
      arm()
    }
    view.usedIn = period
    return view
  }
  const fresh = (keys: readonly string[], rules: readonly GcraRule[]): boolean => {
    let ready = true
    for (let i = 0; i < keys.length; i++) {
      const view = viewOf(keys[i]!, rules[i]!)
      if (view.read && view.sinceRead < quotaOf(rules[i]!)) continue
      view.wanted = true
      ready = false
    }
    return ready
  }
  const decide = (keys: readonly string[], rules: readonly GcraRule[]): GcraOutcome => {
    const known = keys.map((key) => views.get(key)!)
    const tats = known.map((view) => view.tat)
    const outcome = gcraDecide(tats, rules, now())
    known.forEach((view, i) => {
      view.intervalUs = rules[i]!.intervalUs
      if (!outcome.admitted) return
      view.tat = tats[i]!
      view.pending++
      view.sinceRead++
    })
    return outcome
  }

  /**
   * `all`: the period's reconcile, every view; else an early one, of the views requests wait
   * for (kept small: the other views' counts go at the period's end).
   */
  const reconcile = async (all: boolean): Promise<void> => {
    const keys: string[] = []
    const args: number[] = []
    const at = now()
    for (const [key, view] of views) {
      if (all && view.pending === 0 && !view.wanted && view.usedIn < period - 1) { views.delete(key); continue }
      if (!all && !view.wanted) continue
      keys.push(key)
      args.push(view.pending, view.intervalUs, Math.max(0, Math.round(view.tat - at)))
      view.pending = 0
      view.wanted = false
    }
    try {
      const ahead = keys.length === 0 ? [] : await send(keys, args)
      const back = now()
      keys.forEach((key, i) => {
        const view = views.get(key)!
        // The admissions made while the reply was on its way are not in it: they stay counted.
        view.tat = Math.max(back + Number(ahead[i]) + view.pending * view.intervalUs, view.tat)
        view.sinceRead = view.pending
        view.read = true
      })
    } catch (err) {
      // Unsent admissions are lost with the store; every key is read again once it answers.
      views.clear()
      const failed = waiters
      waiters = []
      for (const waiter of failed) waiter.reject(err)
      return
    }
    const queued = waiters
    waiters = []
    for (const waiter of queued) {
      if (fresh(waiter.keys, waiter.rules)) waiter.resolve(decide(waiter.keys, waiter.rules))
      else waiters.push(waiter)
    }
    if (waiters.length > 0) again ??= 'wanted'
  }

  function start (all: boolean): void {
    if (running !== undefined) {
      again = all ? 'all' : again ?? 'wanted'
      return
    }
    const started = nextDone
    nextDone = []
    running = reconcile(all).finally(() => {
      running = undefined
      for (const done of started) done()
      const next = again
      again = undefined
      if (next !== undefined) start(next === 'all')
    })
  }
  /** The requests of one event-loop turn wait for the same reconcile. */
  function startSoon (): void {
    if (soon) return
    soon = true
    setImmediate(() => { soon = false; start(false) })
  }
  function arm (): void {
    if (timer !== undefined) return
    timer = setTimeout(() => {
      timer = undefined
      if (views.size === 0) return
      period++
      start(true)
      arm()
    }, syncMs)
    timer.unref()
  }

  return {
    admit (keys, rules) {
      if (fresh(keys, rules)) return decide(keys, rules)
      startSoon()
      return new Promise((resolve, reject) => { waiters.push({ keys, rules, resolve, reject }) })
    },
    async sync () {
      const done = new Promise<void>((resolve) => { nextDone.push(resolve) })
      start(true)
      await done
    },
    get size () { return views.size }
  }
}
