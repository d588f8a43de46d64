import t from 'tap'
import fc from 'fast-check'
import { resolveClientBank, resolveTenantBank } from '../../src/access/bank-resolution.js'
import { createCachedMappings } from '../../src/mappings/cached-source.js'
import { createMemoryCache } from '../../src/backends/shared-cache.js'
import type { MappingSource, TenantMapping } from '../../src/mappings/source.js'
import { isGatewayError } from '../../src/errors.js'

const tenant = (banks: Array<[string, boolean, boolean?]>): TenantMapping => ({
  tenantId: 't', banks: banks.map(([bankId, enabled, isDefault = false]) => ({ bankId, enabled, isDefault }))
})
const codeOf = (fn: () => unknown): string | undefined => {
  try { fn(); return undefined } catch (err) { return isGatewayError(err) ? err.code : String(err) }
}

t.test('tenant rules (CONTRACT.md §4), each both ways', async (t) => {
  t.same(resolveTenantBank(tenant([['1001', true]]), undefined), { activeBankId: '1001', bankIds: ['1001'] }, 'the only bank')
  t.same(resolveTenantBank(tenant([['a', true], ['b', true, true]]), undefined), { activeBankId: 'b', bankIds: ['a', 'b'] }, 'the default')
  t.equal(codeOf(() => resolveTenantBank(tenant([['a', true], ['b', true]]), undefined)), 'BANK_CONTEXT_REQUIRED', 'several, no default')
  try { resolveTenantBank(tenant([['a', true], ['b', true]]), undefined) } catch (err) { t.same((err as { extensions: unknown }).extensions, { availableBankIds: ['a', 'b'] }) }
  t.same(resolveTenantBank(tenant([['a', true], ['b', true]]), 'b'), { activeBankId: 'b', bankIds: ['a', 'b'] }, 'selected')
  t.equal(codeOf(() => resolveTenantBank(tenant([['a', true], ['b', true]]), 'c')), 'BANK_NOT_ALLOWED', 'not one of them')
  t.equal(codeOf(() => resolveTenantBank(tenant([['a', true], ['b', false]]), 'b')), 'BANK_DISABLED', 'selected a disabled bank of the tenant')
  t.same(resolveTenantBank(tenant([['a', true], ['b', false]]), undefined), { activeBankId: 'a', bankIds: ['a'] }, 'disabled banks are not selectable nor listed')
  t.equal(codeOf(() => resolveTenantBank(tenant([['a', false], ['b', false]]), undefined)), 'BANK_DISABLED', 'all disabled')
  t.equal(codeOf(() => resolveTenantBank(null, undefined)), 'TENANT_NOT_MAPPED')
  t.same(resolveTenantBank(tenant([['a', true], ['b', true]]), undefined, { requireActive: false }), { activeBankId: null, bankIds: ['a', 'b'] }, '/_gateway/me may have no active bank')
})

t.test('client rules', async (t) => {
  t.same(resolveClientBank({ clientId: 'c', bankId: '1', enabled: true, bankEnabled: true }), { activeBankId: '1', bankIds: ['1'] })
  t.equal(codeOf(() => resolveClientBank(null)), 'CLIENT_NOT_REGISTERED')
  t.equal(codeOf(() => resolveClientBank({ clientId: 'c', bankId: '1', enabled: false, bankEnabled: true })), 'CLIENT_NOT_REGISTERED')
  t.equal(codeOf(() => resolveClientBank({ clientId: 'c', bankId: '1', enabled: true, bankEnabled: false })), 'BANK_DISABLED')
})

t.test('property: random layouts and random tokens never yield a bank of another tenant', async (t) => {
  const guid = fc.uuid().map((u) => u)
  const layout = fc.uniqueArray(fc.record({
    tenantId: guid,
    banks: fc.uniqueArray(fc.stringMatching(/^[0-9]{1,4}$/), { minLength: 1, maxLength: 4 }),
    enabledMask: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    defaultIndex: fc.option(fc.nat(3))
  }), { selector: (x) => x.tenantId.toLowerCase(), maxLength: 8 })
  await fc.assert(fc.asyncProperty(layout, fc.array(fc.tuple(fc.nat(20), fc.option(fc.stringMatching(/^[0-9]{1,4}$/)), fc.boolean())), async (tenants, requests) => {
    const owned = new Map(tenants.map((x) => [x.tenantId.toLowerCase(), x]))
    const source: MappingSource = {
      kind: 'file',
      async tenant (id) {
        const x = owned.get(id.toLowerCase())
        return x ? { tenantId: id.toLowerCase(), banks: x.banks.map((bankId, i) => ({ bankId, enabled: x.enabledMask[i] ?? true, isDefault: x.defaultIndex === i })) } : null
      },
      async client () { return null },
      async clients () { return [] },
      async ping () { return 'test' },
      async close () {}
    }
    const mappings = createCachedMappings({ source, store: createMemoryCache(), ttlSec: 300, negativeTtlSec: 30, localTtlSec: 10, staleIfErrorSec: 60 })
    for (const [pick, selection, upper] of requests) {
      const known = tenants[pick % Math.max(tenants.length, 1)]
      const tid = pick >= 18 || !known ? '00000000-0000-4000-8000-000000000000' : upper ? known.tenantId.toUpperCase() : known.tenantId
      try {
        const context = resolveTenantBank(await mappings.tenant(tid), selection ?? undefined)
        const mine = owned.get(tid.toLowerCase())
        if (!mine) return false
        const enabled = mine.banks.filter((_, i) => mine.enabledMask[i] ?? true)
        if (context.activeBankId === null || !enabled.includes(context.activeBankId)) return false
        if (!context.bankIds.every((b) => enabled.includes(b))) return false
      } catch (err) {
        if (!isGatewayError(err)) throw err
      }
    }
    return true
  }), { numRuns: 300 })
  t.pass('300 random layouts')
})

t.test('a flood of unmapped tenant ids does not push mapped tenants out of the process layer', async (t) => {
  const mapped = Array.from({ length: 50 }, (_, i) => `10000000-0000-4000-8000-${String(i).padStart(12, '0')}`)
  const queried: string[] = []
  const source: MappingSource = {
    kind: 'file',
    async tenant (id) {
      queried.push(id)
      return mapped.includes(id) ? { tenantId: id, banks: [{ bankId: '1001', enabled: true, isDefault: false }] } : null
    },
    async client () { return null },
    async clients () { return [] },
    async ping () { return 'test' },
    async close () {}
  }
  const mappings = createCachedMappings({ source, store: createMemoryCache(), ttlSec: 300, negativeTtlSec: 30, localTtlSec: 10, staleIfErrorSec: 60, localMaxEntries: 100 })
  for (const id of mapped) await mappings.tenant(id)
  const flood = []
  for (let i = 0; i < 1000; i++) flood.push(await mappings.tenant(`20000000-0000-4000-8000-${String(i).padStart(12, '0')}`))
  t.ok(flood.every((answer) => answer === null), '1,000 unmapped tenants, each answered "not mapped"')
  queried.length = 0
  const again = []
  for (const id of mapped) again.push((await mappings.tenant(id))?.banks[0]?.bankId)
  t.ok(again.every((bankId) => bankId === '1001'), 'the mapped tenants still map')
  t.same(queried, [], 'every mapped tenant still answered from the process layer')
  t.equal(await mappings.tenant('20000000-0000-4000-8000-000000000999'), null, 'the latest unmapped ones are cached too')
  t.same(queried, [], 'without a query')
  t.equal(await mappings.tenant('20000000-0000-4000-8000-000000000000'), null)
  t.same(queried, ['20000000-0000-4000-8000-000000000000'], 'the oldest unmapped ones were the ones to go')
})
