import t from 'tap'
import fc from 'fast-check'
import { createGuidIndex } from '../../src/mappings/guid-index.js'

t.test('a GUID is found in either case; anything else has no slot and is never added', async (t) => {
  const index = createGuidIndex()
  const slot = index.add('0a1b2c3d-4e5f-6789-abcd-ef0123456789')
  t.equal(index.find('0A1B2C3D-4E5F-6789-ABCD-EF0123456789'), slot)
  t.equal(index.find('0a1b2c3d-4e5f-6789-abcd-ef012345678a'), -1, 'one digit off')
  for (const text of ['', 'tenant', '0a1b2c3d4e5f6789abcdef0123456789', '0a1b2c3d-4e5f-6789-abcd-ef012345678g', '0a1b2c3d-4e5f-6789-abcd-ef01234567890', '{0a1b2c3d-4e5f-6789-abcd-ef01234567}']) {
    t.equal(index.find(text), -1, `find ${JSON.stringify(text)}`)
    t.equal(index.add(text), -1, `add ${JSON.stringify(text)}`)
  }
  t.equal(index.size, 1)
})

t.test('property: under any seed and any history it agrees with a Map in membership and in insertion order', async (t) => {
  const pool = Array.from({ length: 48 }, (_, i) => `${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}-0000-4000-8000-${String(i).padStart(12, '0')}`)
  const op = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('add' as const), key: fc.nat(47), upper: fc.boolean() }), weight: 40 },
    { arbitrary: fc.record({ kind: fc.constant('remove' as const), key: fc.nat(47) }), weight: 20 },
    { arbitrary: fc.record({ kind: fc.constant('evict' as const) }), weight: 10 },
    { arbitrary: fc.record({ kind: fc.constant('clear' as const) }), weight: 1 }
  )
  await fc.assert(fc.property(fc.integer({ min: 0, max: 0x7fffffff }), fc.array(op, { maxLength: 300 }), (seed, ops) => {
    const index = createGuidIndex({ seed })
    const model = new Map<string, number>() // key → slot, in insertion order
    for (const o of ops) {
      if (o.kind === 'clear') { index.clear(); model.clear(); continue }
      if (o.kind === 'evict') {
        const oldest = model.entries().next().value
        if (index.oldest() !== (oldest?.[1] ?? -1)) return false
        if (oldest) { index.remove(oldest[1]); model.delete(oldest[0]) }
        continue
      }
      const key = pool[o.key]!
      const slot = index.find(key)
      if (slot !== (model.get(key) ?? -1)) return false
      if (o.kind === 'remove') {
        if (slot >= 0) { index.remove(slot); model.delete(key) }
      } else if (slot < 0) {
        const added = index.add(o.upper ? key.toUpperCase() : key)
        if (added < 0 || [...model.values()].includes(added)) return false // a slot is never shared
        model.set(key, added)
      }
      if (index.size !== model.size) return false
    }
    return pool.every((key) => index.find(key) === (model.get(key) ?? -1))
  }), { numRuns: 500 })
  t.pass('500 random histories agree with the model')
})
