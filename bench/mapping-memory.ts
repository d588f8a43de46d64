/**
 * Memory of the per-process mapping layer: 100,000 tenants answered through the cache
 * (memory store, the gateway's default), then RSS and heap. `node --expose-gc --import tsx bench/mapping-memory.ts`
 */
import { randomUUID } from 'node:crypto'
import { createCachedMappings } from '../src/mappings/cached-source.js'
import { createMemoryCache } from '../src/backends/shared-cache.js'
import type { MappingSource } from '../src/mappings/source.js'

const TENANTS = Number(process.argv[2] ?? 100_000)
let nextBankId = 100000
const source: MappingSource = {
  kind: 'file',
  // A bank of its own per tenant, its id a string of its own, as MySQL answers.
  async tenant (tenantId) { return { tenantId, banks: [{ bankId: String(nextBankId++), enabled: true, isDefault: false }] } },
  async client () { return null },
  async clients () { return [] },
  async ping () { return 'generated' },
  async close () {}
}
// Upper case, as a token's tid may be: the cache keeps its own (lower-case) copy, as in the
// gateway, where nothing else holds a tenant's id once its tokens are gone.
const ids = Array.from({ length: TENANTS }, () => randomUUID().toUpperCase())
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
gc()
const before = process.memoryUsage()
const mappings = createCachedMappings({ source, store: createMemoryCache(), ttlSec: 300, negativeTtlSec: 30, localTtlSec: 300, staleIfErrorSec: 3600 })
for (const id of ids) await mappings.tenant(id)
// Twice, a moment apart: array buffers outgrown along the way are freed by a sweeper that
// finishes after the collection that found them.
gc()
await new Promise((resolve) => setTimeout(resolve, 200))
gc()
const after = process.memoryUsage()
const mb = (n: number): string => (n / 1048576).toFixed(1)
// Typed arrays live outside the V8 heap: count them too.
const total = (usage: NodeJS.MemoryUsage): number => usage.heapUsed + usage.arrayBuffers
// Still referenced after the measurement, so nothing above is collected before it.
const stillCached = (await mappings.tenant(ids[0]!)) !== null
process.stdout.write(`${TENANTS} tenants cached (process layer + memory store): heap + array buffers +${mb(total(after) - total(before))} MB, ${((total(after) - total(before)) / TENANTS).toFixed(0)} bytes a tenant (heap ${mb(before.heapUsed)} → ${mb(after.heapUsed)} MB, array buffers ${mb(before.arrayBuffers)} → ${mb(after.arrayBuffers)} MB; cache kept: ${stillCached})\n`)
