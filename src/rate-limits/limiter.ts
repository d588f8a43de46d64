/**
 * Counts requests against a route's policies (CONTRACT.md §12) in the shared store, one atomic
 * operation each, or from this pod's view of it reconciled every `syncMs` (synced-counters.ts).
 * When that store fails, this pod counts alone at its share (`limit / replicas`)
 * from the very request that failed, and asks the store again once a second (one request at a
 * time) until it answers: never unlimited, and never an error of its own.
 */
import type { CounterStore } from './counter-store.js'
import { createLocalCounters, type GcraOutcome } from './gcra.js'
import { thenMaybe, type MaybePromise } from '../maybe-promise.js'
import type { Count, Principal, RoutePolicies, Verdict } from './policies.js'

export interface RateLimiter {
  admit (route: RoutePolicies, principal: Principal): MaybePromise<Verdict>
}

export interface RateLimiterEvents {
  /** A policy refused a request. */
  refused: (policy: string) => void
  /** A request was counted by this pod alone. */
  countedAlone: () => void
  /** The shared store failed (`alone` went true) or answered again (false). */
  sharedState: (alone: boolean, err?: unknown) => void
}

/** How long this pod counts alone before it asks the shared store again. */
const SHARED_RETRY_MS = 1000

export function createRateLimiter (store: CounterStore, events: RateLimiterEvents, now: () => number = Date.now): RateLimiter {
  const own = createLocalCounters()
  let alone = false
  let retryAt = 0
  let probing = false

  const judged = (route: RoutePolicies, count: Count, outcome: GcraOutcome): Verdict => {
    const verdict = route.verdict(count, outcome)
    for (const policy of verdict.refusedBy) events.refused(policy)
    return verdict
  }
  const countAlone = (route: RoutePolicies, count: Count): Verdict => {
    events.countedAlone()
    return judged(route, count, own.decide(count.keys, count.fallbackRules))
  }
  const failed = (err: unknown): void => {
    retryAt = now() + SHARED_RETRY_MS
    if (!alone) {
      alone = true
      events.sharedState(true, err)
    }
  }

  const admitShared = (route: RoutePolicies, count: Count): MaybePromise<Verdict> => {
    let answer
    try {
      answer = store.admit(count.keys, count.rules)
    } catch (err) {
      failed(err)
      return countAlone(route, count)
    }
    if (!(answer instanceof Promise)) return judged(route, count, answer)
    return answer.then((outcome) => {
      if (alone) {
        alone = false
        events.sharedState(false)
      }
      return judged(route, count, outcome)
    }, (err: unknown) => {
      failed(err)
      return countAlone(route, count)
    })
  }

  return {
    admit (route, principal) {
      const count = route.count(principal)
      if (!alone) return admitShared(route, count)
      if (probing || now() < retryAt) return countAlone(route, count)
      probing = true
      return thenMaybe(admitShared(route, count), (verdict) => { probing = false; return verdict })
    }
  }
}
