/**
 * Readiness entries owned by the part that registered them: released with it, unless a newer
 * part registered the same name since; reports after release change nothing.
 */
import t from 'tap'
import { createHealth, type Awaits } from '../../src/observability/health.js'

/** A health whose active revision holds `name`, reported up with `detail`. */
function activeRevision (name: string, detail: string, awaits?: Awaits) {
  const health = createHealth()
  const active = health.owned()
  active.register(name, awaits)
  active.report(name, 'up', detail)
  return { health, active }
}

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
  const { health, active } = activeRevision('cache', 'redis 10.0.0.1:6379', 'verdict')
  const refused = health.owned()
  refused.register('cache', 'verdict')
  refused.release()
  t.match(health.snapshot().dependencies.cache, { state: 'up', detail: 'redis 10.0.0.1:6379', required: true })
  active.report('cache', 'down', 'connection refused')
  t.match(health.snapshot().dependencies.cache, { state: 'down', required: true })
  active.release()
  t.same(health.snapshot().dependencies, {})
})

t.test('a staged revision\'s registrations and reports wait for its activation', async (t) => {
  const { health, active } = activeRevision('cache', 'PONG from the active Redis', 'verdict')
  const stage = health.staged()
  const probe = stage.health.owned()
  probe.register('cache', 'verdict')
  probe.register('keys:new-profile')
  probe.report('cache', 'down', 'the new Redis does not answer')
  stage.health.report('mappings', 'up')
  t.same(Object.keys(health.snapshot().dependencies), ['cache'], 'no entry of the staged revision shows')
  t.match(health.snapshot().dependencies.cache, { state: 'up', detail: 'PONG from the active Redis' }, 'the active entry is as the active revision reported it')
  stage.activate()
  t.same(Object.keys(health.snapshot().dependencies).sort(), ['cache', 'keys:new-profile', 'mappings'])
  t.match(health.snapshot().dependencies.cache, { state: 'down', detail: 'the new Redis does not answer' }, 'held reports apply in order at activation')
  probe.report('cache', 'up', 'answers now')
  t.match(health.snapshot().dependencies.cache, { state: 'up', detail: 'answers now' }, 'and later ones as they come')
  active.release()
  t.same(Object.keys(health.snapshot().dependencies).sort(), ['cache', 'keys:new-profile', 'mappings'], 'the retired revision leaves the names the taken one holds')
})

t.test('a staged revision discarded before activation leaves readiness as it was', async (t) => {
  const { health, active } = activeRevision('blocks', '1 block in force')
  const stage = health.staged()
  const watcher = stage.health.owned()
  watcher.register('blocks')
  watcher.register('cache', 'verdict')
  watcher.report('blocks', 'down', 'the shared cache could not be read')
  watcher.release()
  t.same(Object.keys(health.snapshot().dependencies), ['blocks'])
  t.match(health.snapshot().dependencies.blocks, { state: 'up', detail: '1 block in force' })
  active.release()
  t.same(health.snapshot().dependencies, {}, 'the discarded revision held no name')
})

t.test('a staged view released before activation stays out after it; activating twice changes nothing', async (t) => {
  const health = createHealth()
  const stage = health.staged()
  const kept = stage.health.owned()
  const released = stage.health.owned()
  kept.register('keys:system')
  released.register('cache', 'verdict')
  released.report('cache', 'down', 'refused')
  released.release()
  // Views handed out by a staged view hold too.
  const nested = kept.owned()
  nested.register('blocks')
  t.equal(kept.staged(), stage, 'a staged view belongs to its stage')
  t.same(Object.keys(health.snapshot().dependencies), [], 'nothing shows before activation')
  stage.activate()
  t.same(Object.keys(health.snapshot().dependencies).sort(), ['blocks', 'keys:system'], 'the released view\'s entries never come')
  stage.activate()
  kept.report('keys:system', 'up')
  t.match(health.snapshot().dependencies['keys:system'], { state: 'up' }, 'after activation reports apply as they come')
  t.same(Object.keys(health.snapshot().dependencies).sort(), ['blocks', 'keys:system'])
})
