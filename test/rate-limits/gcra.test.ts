import t from 'tap'
import { createLocalCounters, gcraDecide, gcraRule } from '../../src/rate-limits/gcra.js'

const SECOND = 1_000_000

t.test('from idle, exactly burst requests pass at once, then one per interval', async (t) => {
  const rule = gcraRule(60, 60, 5) // one a second, five at once
  const tats = [0]
  const at = 1_000 * SECOND
  const outcomes = Array.from({ length: 6 }, () => gcraDecide(tats, [rule], at))
  t.same(outcomes.map((o) => o.admitted), [true, true, true, true, true, false])
  t.same(outcomes.map((o) => o.remaining[0]), [4, 3, 2, 1, 0, 0])
  t.same(outcomes.map((o) => o.waitUs[0]), [0, 0, 0, 0, SECOND, SECOND], 'wait: none while some remain, then one interval')
  t.equal(gcraDecide(tats, [rule], at + SECOND - 1).admitted, false, 'a microsecond early is still refused')
  t.equal(gcraDecide(tats, [rule], at + SECOND).admitted, true, 'admitted exactly when the wait said')
  t.equal(gcraDecide(tats, [rule], at + 10 * SECOND).remaining[0], 4, 'idle refills up to burst, never beyond')
})

t.test('a refused request moves no counter, and several rules admit together or not at all', async (t) => {
  const wide = gcraRule(100, 60, 100)
  const narrow = gcraRule(2, 60, 2)
  const tats = [0, 0]
  const at = 5 * SECOND
  t.equal(gcraDecide(tats, [wide, narrow], at).admitted, true)
  t.equal(gcraDecide(tats, [wide, narrow], at).admitted, true)
  const before = [...tats]
  const refused = gcraDecide(tats, [wide, narrow], at)
  t.equal(refused.admitted, false)
  t.same(tats, before, 'nothing counted for the refused request')
  t.same(refused.remaining, [98, 0], 'the admitting rule still reports what it has left')
  t.equal(refused.waitUs[1], 30 * SECOND, 'the refusing rule: one more in window / limit')
})

t.test('odd rates stay exact: integer microseconds, no drift over many windows', async (t) => {
  const rule = gcraRule(7, 60, 1)
  const tats = [0]
  let at = 0
  let admitted = 0
  for (let i = 0; i < 7000; i++) {
    if (gcraDecide(tats, [rule], at).admitted) admitted++
    at += rule.intervalUs
  }
  t.equal(admitted, 7000, 'one request every interval is always admitted')
  t.equal(gcraDecide(tats, [rule], at - 1).admitted, false)
})

t.test('local counters forget idle keys', async (t) => {
  let now = 0
  const counters = createLocalCounters(() => now)
  const rule = gcraRule(10, 1, 1)
  for (let i = 0; i < 3000; i++) counters.decide([`k${i}`], [rule])
  t.ok(counters.size <= 3000)
  now = 10 * SECOND
  for (let i = 0; i < 1100; i++) counters.decide([`fresh${i}`], [rule])
  t.ok(counters.size < 3000, `idle keys swept (${counters.size} left)`)
  t.same(counters.decide(['fresh0'], [rule]).admitted, false, 'live keys kept')
})

t.test('Redis Cluster hash tags, as Redis reads them', async (t) => {
  const { hashTagOf } = await import('../../src/rate-limits/counting-batches.js')
  t.equal(hashTagOf('bookme:gw:rl:{1001}:bank-api'), '1001')
  t.equal(hashTagOf('bookme:{gw}:rl:{1001}:x'), 'gw', 'the first tag wins: a prefix with braces puts every key in one slot')
  t.equal(hashTagOf('a{}b{c}'), 'a{}b{c}', 'an empty tag: the whole key')
  t.equal(hashTagOf('a{b'), 'a{b')
})
