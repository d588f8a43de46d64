/**
 * Where the rate-limit counters are kept (CONTRACT.md §12): on the shared cache's Redis, every
 * gateway counting together (redis-counter-store.ts), per request or reconciled every `syncMs`,
 * or in this process with the memory cache (`syncMs` does not apply: nothing to reconcile with).
 */
import type { SharedCache } from '../backends/shared-cache.js'
import type { MaybePromise } from '../maybe-promise.js'
import { createLocalCounters, type GcraOutcome, type GcraRule } from './gcra.js'
import { createRedisCounterStore } from './redis-counter-store.js'

export interface CounterStore {
  /**
   * Counts one request against GCRA counters, every key in one Redis Cluster slot: one atomic
   * operation, admitted by all rules or counted by none. In memory, or from a fresh synced view,
   * the outcome itself, no promise.
   */
  admit (keys: readonly string[], rules: readonly GcraRule[]): MaybePromise<GcraOutcome>
  /** Readies counting (Redis: the script loaded on every primary); resolves to what `check` prints. */
  prepareCounting (): Promise<string>
}

/** The counters beside `cache`, over its connection; on Redis reconciled every `syncMs` (0: per request). */
export function createCounterStore (cache: SharedCache, syncMs = 0): CounterStore {
  return cache.kind === 'redis' ? createRedisCounterStore(cache.backend, syncMs) : createMemoryCounterStore()
}

function createMemoryCounterStore (): CounterStore {
  const counters = createLocalCounters()
  return {
    admit (keys, rules) { return counters.decide(keys, rules) },
    async prepareCounting () { return 'counted in this process' }
  }
}
