/**
 * Memory of the per-process mapping layer: 100,000 tenants answered through the cache
 * (memory store, the gateway's default), then RSS and heap. `node --expose-gc --import tsx bench/mapping-memory.ts`
 */
import { randomUUID } from 'node:crypto'
import { createCachedMappings } from '../src/mappings/cached-source.js'
import { createMemoryStore } from '../src/mappings/shared-store.js'
import type { MappingSource } from '../src/mappings/source.js'

const TENANTS = Number(process.argv[2] ?? 100_000)
const source: MappingSource = {
  kind: 'file',
  async tenant (tenantId) { return { tenantId, banks: [{ bankId: String(tenantId.charCodeAt(0)), enabled: true, isDefault: false }] } },
  async client () { return null },
  async clients () { return [] },
  async ping () {},
  async close () {}
}
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
gc()
const before = process.memoryUsage()
const mappings = createCachedMappings({ source, store: createMemoryStore(), ttlSec: 300, negativeTtlSec: 30, localTtlSec: 300, staleIfErrorSec: 3600 })
const ids = Array.from({ length: TENANTS }, () => randomUUID())
for (const id of ids) await mappings.tenant(id)
gc()
const after = process.memoryUsage()
const mb = (n: number): string => (n / 1048576).toFixed(1)
// Still referenced after the measurement, so nothing above is collected before it.
const stillCached = (await mappings.tenant(ids[0]!)) !== null
process.stdout.write(`${TENANTS} tenants cached (process layer + memory store): RSS ${mb(before.rss)} → ${mb(after.rss)} MB, heap used ${mb(before.heapUsed)} → ${mb(after.heapUsed)} MB (cache kept: ${stillCached})\n`)
