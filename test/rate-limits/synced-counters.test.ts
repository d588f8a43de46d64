import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { startRedis } from '../helpers/services.js'
import { eventually } from '../helpers/eventually.js'
import { SYNC_SCRIPT } from '../../src/rate-limits/counting-script.js'
import { createSyncedCounters, type SendSync } from '../../src/rate-limits/synced-counters.js'
import { gcraRule, type GcraOutcome } from '../../src/rate-limits/gcra.js'
import type { MaybePromise } from '../../src/maybe-promise.js'

// synced-counters.ts on its own, each instance a pod, reconciling through the real script on a real Redis.

const KEY = 'rl:{1001}:bank-api'
/** One a second, a hundred at once: the test runs well within one interval's refill. */
const RULE = gcraRule(3600, 3600, 100)

interface Pod { admit: () => MaybePromise<GcraOutcome>, sync: () => Promise<void>, size: () => number, reconciles: () => number }

async function sharedRedis (t: Test): Promise<{ redis: Redis, pod: (syncMs: number, send?: SendSync) => Pod }> {
  const server = await startRedis(t)
  const redis = new Redis(server.url, { maxRetriesPerRequest: 0 })
  t.teardown(() => { redis.disconnect() })
  redis.defineCommand('gcraSync', { lua: SYNC_SCRIPT })
  const script = (redis as unknown as { gcraSync: (n: number, ...args: Array<string | number>) => Promise<number[]> }).gcraSync.bind(redis)
  const viaRedis: SendSync = async (keys, args) => await script(keys.length, ...keys, ...args)
  return {
    redis,
    pod (syncMs, send = viaRedis) {
      let calls = 0
      const counters = createSyncedCounters(syncMs, async (keys, args) => { calls++; return await send(keys, args) })
      return { admit: () => counters.admit([KEY], [RULE]), sync: async () => await counters.sync(), size: () => counters.size, reconciles: () => calls }
    }
  }
}

async function admitted (pod: Pod, n: number): Promise<number> {
  const outcomes = await Promise.all(Array.from({ length: n }, () => pod.admit()))
  return outcomes.filter((o) => o.admitted).length
}

/** The shared TAT ahead of now, in intervals: how many admissions Redis holds. */
async function held (redis: Redis): Promise<number> {
  const [[seconds, micros], tat] = await Promise.all([redis.time(), redis.get(KEY)])
  return (Number(tat ?? 0) - (Number(seconds) * 1e6 + Number(micros))) / RULE.intervalUs
}

t.test('a key is read once, then counted here without a round trip until the quota, and the count reaches Redis at the next reconcile', async (t) => {
  const { redis, pod } = await sharedRedis(t)
  const a = pod(10_000) // quota: ⌈10 s / 1 s⌉ = 10
  const first = a.admit()
  t.ok(first instanceof Promise, 'a key never read waits for a reconcile')
  t.equal((await first).admitted, true)
  t.equal(a.reconciles(), 1)
  const local = Array.from({ length: 9 }, () => a.admit())
  t.notOk(local.some((o) => o instanceof Promise), 'nine more from the view: no promise, no round trip')
  t.equal(a.reconciles(), 1)
  t.ok(a.admit() instanceof Promise, 'the eleventh waits: ten a view is the quota')
  await eventually(() => a.reconciles(), (n) => n >= 2)
  await a.sync()
  const inRedis = await held(redis)
  t.ok(inRedis > 10 && inRedis <= 11, `Redis holds the eleven (${inRedis.toFixed(2)} intervals ahead)`)
})

t.test('after a reconcile a pod that admitted nothing sees what the other used, and refuses', async (t) => {
  const { pod } = await sharedRedis(t)
  const a = pod(10_000)
  const b = pod(10_000)
  t.equal(await admitted(a, 150), 100, 'one pod alone: exactly the burst, as the per-request script')
  const seen = await b.admit()
  t.equal(seen.admitted, false, 'the other pod reads the shared TAT before its first decision')
  t.equal(seen.remaining[0], 0)
  t.ok(seen.waitUs[0]! > 0 && seen.waitUs[0]! <= RULE.intervalUs, `it says when one more is admitted (${seen.waitUs[0]} µs)`)
})

t.test('two pods on stale views admit at most the burst + pods × quota, and repay it', async (t) => {
  const { redis, pod } = await sharedRedis(t)
  const a = pod(10_000)
  const b = pod(10_000)
  const quota = 10
  await Promise.all([a.admit(), b.admit()]) // both views read, 2 used
  const started = Date.now()
  // Interleaved, all at once: each pod's view misses what the other admitted since its last read.
  const outcomes = await Promise.all(Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? a : b).admit()))
  const total = 2 + outcomes.filter((o) => o.admitted).length
  const refill = Math.ceil((Date.now() - started) * 1000 / RULE.intervalUs)
  t.ok(total >= 100 && total <= 100 + 2 * quota + refill, `${total} admitted against a burst of 100, bound ${100 + 2 * quota} (+${refill} refilled)`)
  await Promise.all([a.sync(), b.sync()])
  const inRedis = await held(redis)
  t.ok(inRedis >= total - refill - 1, `every admission reached the shared TAT (${inRedis.toFixed(1)} intervals for ${total})`)
  t.equal(await admitted(a, 5) + await admitted(b, 5), 0, 'then both refuse until the excess has drained')
})

t.test('one pod reconciling alone counts exactly as GCRA: no admission is counted twice', async (t) => {
  const { redis, pod } = await sharedRedis(t)
  const a = pod(50) // quota 1: every admission after the first of a view waits for a reconcile
  t.equal(await admitted(a, 30), 30)
  await a.sync()
  const inRedis = await held(redis)
  t.ok(inRedis > 29 && inRedis <= 30, `30 admissions, 30 intervals (${inRedis.toFixed(2)})`)
  t.equal(await admitted(a, 80), 70, 'the rest of the burst, not one more')
})

t.test('an early reconcile for one key leaves the other views fresh: only the period\'s reconcile forgets', async (t) => {
  const counters = createSyncedCounters(10_000, async (keys) => keys.map(() => 0))
  const banks = Array.from({ length: 50 }, (_, i) => [`rl:{${1000 + i}}:bank-api`])
  for (const keys of banks) await counters.admit(keys, [RULE])
  for (const keys of banks) t.notOk(counters.admit(keys, [RULE]) instanceof Promise, `${keys[0]} answered from its view`)
  t.equal(counters.size, 50)
})

t.test('idle views are forgotten at the next reconciles', async (t) => {
  const { pod } = await sharedRedis(t)
  const a = pod(20)
  await a.admit()
  t.equal(a.size(), 1)
  t.equal(await eventually(() => a.size(), (n) => n === 0), 0, 'no request since a reconcile: the view is dropped')
})

t.test('a failed reconcile refuses nothing itself: the waiting requests reject, every view is read again', async (t) => {
  const { pod } = await sharedRedis(t)
  let fail = false
  const { admit, size } = pod(10_000, async (keys, args) => {
    if (fail) throw new Error('connection lost')
    return keys.map(() => 0)
  })
  t.equal((await admit()).admitted, true)
  fail = true
  for (let i = 0; i < 9; i++) t.equal((admit() as GcraOutcome).admitted, true, 'up to the quota from the view')
  await t.rejects(async () => await admit(), /connection lost/)
  t.equal(size(), 0, 'views forgotten')
  fail = false
  t.ok(admit() instanceof Promise, 'the next request reads the key again')
})
