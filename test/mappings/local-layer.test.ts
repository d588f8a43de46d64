import t, { type Test } from 'tap'
import fc from 'fast-check'
import { createMapLayer, createSplitLayer, createTenantLayer, type LocalEntry, type LocalLayer } from '../../src/mappings/local-layer.js'
import type { TenantMapping } from '../../src/mappings/source.js'

const guid = (n: number): string => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`

t.test('the packed tenant layer gives back exactly what was put in, for every shape of answer', async (t) => {
  const layer = createTenantLayer(20)
  const shapes: Array<TenantMapping | null> = [
    null,
    { tenantId: guid(1), banks: [] },
    { tenantId: guid(2), banks: [{ bankId: '1001', enabled: true, isDefault: false }] },
    { tenantId: guid(3), banks: [{ bankId: '1002', enabled: false, isDefault: true }] },
    { tenantId: guid(4), banks: [{ bankId: '1003', enabled: true, isDefault: true }] },
    { tenantId: guid(5), banks: [{ bankId: 'a', enabled: true, isDefault: false }, { bankId: 'b', enabled: false, isDefault: true }] },
    // One bank whose id is not a plain decimal number: kept as written, never as a number.
    ...['bank-7', '0042', '0', '9007199254740993', '1e3', ' 12', '-5'].map((bankId, i) => ({ tenantId: guid(6 + i), banks: [{ bankId, enabled: i % 2 === 0, isDefault: i % 3 === 0 }] }))
  ]
  shapes.forEach((v, i) => { layer.set(guid(i), { v, at: 1_700_000_000_123 + i, until: 1_700_000_010_456 + i }) })
  shapes.forEach((v, i) => {
    t.same(layer.get(guid(i)), { v: v === null ? null : { ...v, tenantId: guid(i) }, at: 1_700_000_000_123 + i, until: 1_700_000_010_456 + i }, `shape ${i}`)
  })
  t.equal(layer.get(guid(99)), undefined, 'an unknown tenant is a miss')
  t.equal(layer.size, shapes.length)
})

t.test('a later answer for a tenant replaces the earlier one; a freed slot keeps nothing of its last tenant', async (t) => {
  const layer = createTenantLayer(10)
  layer.set(guid(1), { v: { tenantId: guid(1), banks: [{ bankId: '1', enabled: true, isDefault: true }] }, at: 1, until: 2 })
  layer.set(guid(1), { v: null, at: 3, until: 4 })
  t.same(layer.get(guid(1)), { v: null, at: 3, until: 4 })
  layer.delete(guid(1))
  t.equal(layer.get(guid(1)), undefined, 'deleted')
  layer.set(guid(2), { v: { tenantId: guid(2), banks: [] }, at: 5, until: 6 })
  t.same(layer.get(guid(2)), { v: { tenantId: guid(2), banks: [] }, at: 5, until: 6 }, 'the reused slot holds the new tenant only')
  layer.clear()
  t.equal(layer.size, 0)
  t.equal(layer.get(guid(2)), undefined, 'cleared')
})

t.test('a stored multi-bank answer cannot be changed through what a read returns', async (t) => {
  const layer = createTenantLayer(10)
  const banks = [{ bankId: 'a', enabled: true, isDefault: false }, { bankId: 'b', enabled: true, isDefault: false }]
  layer.set(guid(1), { v: { tenantId: guid(1), banks }, at: 1, until: 2 })
  banks[0]!.enabled = false // the source's object, changed after the fact
  const read = layer.get(guid(1))!.v!
  t.equal(read.banks[0]!.enabled, true, 'the layer kept its own copy')
  t.throws(() => { (read.banks[1] as { enabled: boolean }).enabled = false }, 'and hands it out frozen')
})

/** Each layer against a plain Map model with the same oldest-first bound, through random operations. */
function behavesLikeBoundedMap (t: Test, make: (max: number) => LocalLayer<TenantMapping>): Promise<void> {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), tenant: fc.nat(12), bank: fc.option(fc.nat(3)), numeric: fc.boolean(), at: fc.nat() }),
    fc.record({ kind: fc.constant('delete' as const), tenant: fc.nat(12) }),
    fc.record({ kind: fc.constant('clear' as const) })
  )
  return fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 60 }), async (max, ops) => {
    const layer = make(max)
    const model = new Map<string, LocalEntry<TenantMapping>>()
    for (const o of ops) {
      if (o.kind === 'clear') { layer.clear(); model.clear(); continue }
      const id = guid(o.tenant)
      if (o.kind === 'delete') { layer.delete(id); model.delete(id); continue }
      const v = o.bank === null ? null : { tenantId: id, banks: Array.from({ length: o.bank }, (_, i) => ({ bankId: o.numeric ? `${o.tenant * 10 + i}` : `${o.tenant}-${i}`, enabled: i % 2 === 0, isDefault: i === 1 })) }
      const entry = { v, at: o.at, until: o.at + 10 }
      layer.set(id, entry)
      if (!model.has(id) && model.size >= max) model.delete(model.keys().next().value!)
      model.set(id, entry)
    }
    if (layer.size !== model.size) t.fail(`size ${layer.size} != ${model.size}`)
    for (let n = 0; n <= 12; n++) {
      const want = model.get(guid(n))
      const got = layer.get(guid(n))
      if (JSON.stringify(got) !== JSON.stringify(want)) t.fail(`tenant ${n}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`)
    }
  }), { numRuns: 300 }).then(() => { t.pass('300 random histories agree with the model') })
}

t.test('property: the packed tenant layer behaves as a bounded map that drops the oldest first', (t) => behavesLikeBoundedMap(t, createTenantLayer))
t.test('property: so does the plain layer used for app registrations', (t) => behavesLikeBoundedMap(t, (max) => createMapLayer<TenantMapping>(max)))

t.test('the split layer: an answer replaces the other kind for its tenant; delete and clear reach both halves', async (t) => {
  const layer = createSplitLayer(createTenantLayer(10), createTenantLayer(2))
  const mappedTo = (bankId: string): TenantMapping => ({ tenantId: guid(1), banks: [{ bankId, enabled: true, isDefault: false }] })
  layer.set(guid(1), { v: null, at: 1, until: 2 })
  layer.set(guid(1), { v: mappedTo('7'), at: 3, until: 4 })
  t.same(layer.get(guid(1)), { v: mappedTo('7'), at: 3, until: 4 }, 'mapped now: the earlier "not mapped" is gone')
  layer.set(guid(1), { v: null, at: 5, until: 6 })
  t.same(layer.get(guid(1)), { v: null, at: 5, until: 6 }, 'unmapped now: the earlier mapping is gone')
  t.equal(layer.size, 1)
  layer.set(guid(2), { v: mappedTo('8'), at: 1, until: 2 })
  layer.delete(guid(1))
  t.equal(layer.get(guid(1)), undefined)
  for (let n = 3; n < 6; n++) layer.set(guid(n), { v: null, at: n, until: n })
  t.equal(layer.size, 3, 'the unmapped half keeps its own bound (2)')
  t.ok(layer.get(guid(2)), 'and the mapped tenant stays')
  layer.clear()
  t.equal(layer.size, 0)
})
