/**
 * The rate-limit counts of one event-loop turn, sent together: one script call per Redis Cluster
 * slot group (every group, without a cluster) instead of one per request. Requests parsed in the
 * same poll phase are flushed in its check phase (setImmediate), so none waits for a later turn.
 * Measured on the side-by-side benchmark: per-request calls cost a third of a proxied request's
 * CPU, mostly ioredis's per-command work and its timer (bench/README.md).
 */
import type { GcraOutcome, GcraRule } from './gcra.js'

/** Sends one script call: every key, the number of requests, then each request's arguments; its answer's integers, as numbers or their text (counting-script.ts). */
export type SendBatch = (keys: string[], requests: number, args: Array<string | number>) => Promise<ArrayLike<number | string>>

interface Waiter { count: number, resolve: (outcome: GcraOutcome) => void, reject: (err: unknown) => void }
interface Batch { keys: string[], args: Array<string | number>, waiters: Waiter[] }

/** More in one script would hold Redis from other clients for longer than it saves. */
const MAX_BATCH = 128

export function createCountingBatches (send: SendBatch, groupOf: (key: string) => string): (keys: readonly string[], rules: readonly GcraRule[]) => Promise<GcraOutcome> {
  let pending = new Map<string, Batch>()
  let scheduled = false

  const dispatch = (batch: Batch): void => {
    send(batch.keys, batch.waiters.length, batch.args).then((reply) => {
      let at = 0
      for (const waiter of batch.waiters) {
        const remaining: number[] = []
        const waitUs: number[] = []
        const admitted = Number(reply[at]) === 1
        for (let i = 0; i < waiter.count; i++) {
          remaining.push(Number(reply[at + 1 + 2 * i]))
          waitUs.push(Number(reply[at + 2 + 2 * i]))
        }
        at += 1 + 2 * waiter.count
        waiter.resolve({ admitted, remaining, waitUs })
      }
    }, (err: unknown) => { for (const waiter of batch.waiters) waiter.reject(err) })
  }
  const flush = (): void => {
    scheduled = false
    const batches = pending
    pending = new Map()
    for (const batch of batches.values()) dispatch(batch)
  }

  return function admit (keys, rules) {
    const group = groupOf(keys[0] ?? '')
    let batch = pending.get(group)
    if (batch === undefined) {
      batch = { keys: [], args: [], waiters: [] }
      pending.set(group, batch)
    }
    batch.args.push(keys.length)
    for (let i = 0; i < keys.length; i++) {
      batch.keys.push(keys[i]!)
      batch.args.push(rules[i]!.intervalUs, rules[i]!.capacityUs)
    }
    const full = batch
    const outcome = new Promise<GcraOutcome>((resolve, reject) => { full.waiters.push({ count: keys.length, resolve, reject }) })
    if (full.waiters.length >= MAX_BATCH) {
      pending.delete(group)
      dispatch(full)
    } else if (!scheduled) {
      scheduled = true
      setImmediate(flush)
    }
    return outcome
  }
}

/** Redis Cluster's hash tag rule: the text between the first `{` and the next `}`, if not empty; else the whole key. */
export function hashTagOf (key: string): string {
  const open = key.indexOf('{')
  if (open === -1) return key
  const close = key.indexOf('}', open + 1)
  return close === -1 || close === open + 1 ? key : key.slice(open + 1, close)
}
