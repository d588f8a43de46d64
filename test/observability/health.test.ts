/**
 * Readiness entries owned by the part that registered them: released with it, unless a newer
 * part registered the same name since; reports after release change nothing.
 */
import t from 'tap'
import { createHealth } from '../../src/observability/health.js'

t.test('a released part\'s entries leave readiness and the body', async (t) => {
  const health = createHealth()
  const probe = health.owned()
  probe.register('cache', 'verdict')
  probe.register('source', 'verdict')
  t.equal(health.isReady(), false, 'waits for the registered entries')
  probe.release()
  t.same(Object.keys(health.snapshot().dependencies), [])
  t.equal(health.isReady(), true, 'nothing left to wait for')
  probe.report('cache', 'down', 'late answer of a stopped probe')
  t.same(Object.keys(health.snapshot().dependencies), [], 'a report after release is ignored')
})

t.test('a name another part holds stays when one of them is released', async (t) => {
  const health = createHealth()
  const older = health.owned()
  const newer = health.owned()
  older.register('blocks')
  older.register('keys:system')
  older.report('blocks', 'up', 'older')
  newer.register('blocks')
  older.release()
  t.same(Object.keys(health.snapshot().dependencies), ['blocks'])
  t.match(health.snapshot().dependencies.blocks, { state: 'up', detail: 'older', required: true }, 'the entry carries on under its newer owner')
  newer.report('blocks', 'down', 'newer')
  t.match(health.snapshot().dependencies.blocks, { state: 'down', detail: 'newer' })
  newer.release()
  t.same(health.snapshot().dependencies, {})
})

t.test('entries registered without an owner are never released by one', async (t) => {
  const health = createHealth()
  const part = health.owned()
  part.register('mappings')
  health.register('mappings')
  part.release()
  t.same(Object.keys(health.snapshot().dependencies), ['mappings'])
})

t.test('a revision built and thrown away leaves the active one\'s entries as they were', async (t) => {
  const health = createHealth()
  const active = health.owned()
  active.register('cache', 'verdict')
  active.report('cache', 'up', 'redis 10.0.0.1:6379')
  const refused = health.owned()
  refused.register('cache', 'verdict')
  refused.release()
  t.match(health.snapshot().dependencies.cache, { state: 'up', detail: 'redis 10.0.0.1:6379', required: true })
  active.report('cache', 'down', 'connection refused')
  t.match(health.snapshot().dependencies.cache, { state: 'down', required: true })
  active.release()
  t.same(health.snapshot().dependencies, {})
})
