/**
 * The per-process layer of the mapping cache: for each key, the answer (`null` = not mapped),
 * when it was read from the source (`at`) and until when this process serves it without asking
 * again (`until`). Bounded: at `maxEntries` the oldest inserted key goes first.
 */
import type { TenantBank, TenantMapping } from './source.js'
import { copied, createGuidIndex } from './guid-index.js'

export interface LocalEntry<T> { v: T | null, at: number, until: number }

export interface LocalLayer<T> {
  get (key: string): LocalEntry<T> | undefined
  set (key: string, entry: LocalEntry<T>): void
  delete (key: string): void
  clear (): void
  readonly size: number
}

/** One Map entry per key: for the few (app registrations) that need no packing. */
export function createMapLayer<T> (maxEntries: number): LocalLayer<T> {
  const entries = new Map<string, LocalEntry<T>>()
  return {
    get: (key) => entries.get(key),
    set (key, entry) {
      if (!entries.has(key) && entries.size >= maxEntries) dropOldest(entries)
      entries.set(key, entry)
    },
    delete: (key) => { entries.delete(key) },
    clear: () => { entries.clear() },
    get size () { return entries.size }
  }
}

/**
 * "Not mapped" answers kept apart from the mapped ones, under their own bound. Only signed
 * tokens reach the mapping (CONTRACT.md §3), but anyone can create Entra tenants and sign in
 * from them, and the lookup serves other callers too: a flood of unmapped tenant ids must not
 * push the real tenants out of the process layer.
 */
export function createSplitLayer<T> (mapped: LocalLayer<T>, unmapped: LocalLayer<T>): LocalLayer<T> {
  return {
    get: (key) => mapped.get(key) ?? unmapped.get(key),
    set (key, entry) {
      if (entry.v === null) {
        mapped.delete(key)
        unmapped.set(key, entry)
      } else {
        unmapped.delete(key)
        mapped.set(key, entry)
      }
    },
    delete (key) {
      mapped.delete(key)
      unmapped.delete(key)
    },
    clear () {
      mapped.clear()
      unmapped.clear()
    },
    get size () { return mapped.size + unmapped.size }
  }
}

const ENABLED = 1
const DEFAULT = 2
const NOT_MAPPED = 4
/** The one bank's id is `bankNumbers[slot]`, written in decimal. */
const NUMERIC_BANK = 8

/** `id` as a number when decimal digits without a leading zero spell it exactly (as '1001' does). */
function asBankNumber (id: string): number | undefined {
  const n = Number(id)
  return Number.isSafeInteger(n) && n >= 0 && String(n) === id ? n : undefined
}

/**
 * Tenants, packed (100,000 of them within the pod's memory). A tenant is a slot of a
 * GUID index (no string or Map entry per tenant) and of a few columns: timestamps in
 * Float64Arrays (no boxed numbers), and for the usual one-bank tenant just the bank id (a
 * number when the id is a plain decimal one) and a flags byte. About 80 bytes a tenant, against
 * about 460 for an entry object holding a stored answer holding a mapping holding an array
 * holding a bank; the price is a small mapping object built per read. A key that is not a GUID
 * is not kept (every read of it is a miss).
 */
export function createTenantLayer (maxEntries: number): LocalLayer<TenantMapping> {
  const index = createGuidIndex()
  let at = new Float64Array(0)
  let until = new Float64Array(0)
  let flags = new Uint8Array(0)
  let bankNumbers = new Float64Array(0)
  // The rest, by slot: a one-bank tenant's id that is not a plain number; or the banks as read
  // (none, or several).
  const otherBanks = new Map<number, string | readonly TenantBank[]>()

  function release (slot: number): void {
    index.remove(slot)
    otherBanks.delete(slot)
  }

  return {
    get (key) {
      const slot = index.find(key)
      if (slot < 0) return undefined
      const bits = flags[slot]!
      if ((bits & NOT_MAPPED) !== 0) return { v: null, at: at[slot]!, until: until[slot]! }
      const other = otherBanks.get(slot)
      let banks: readonly TenantBank[]
      if ((bits & NUMERIC_BANK) !== 0 || typeof other === 'string') {
        const bankId = typeof other === 'string' ? other : String(bankNumbers[slot])
        banks = [{ bankId, enabled: (bits & ENABLED) !== 0, isDefault: (bits & DEFAULT) !== 0 }]
      } else {
        banks = other ?? []
      }
      return { v: { tenantId: key, banks }, at: at[slot]!, until: until[slot]! }
    },
    set (key, entry) {
      let slot = index.find(key)
      if (slot < 0) {
        if (maxEntries === 0) return
        if (index.size >= maxEntries) release(index.oldest())
        slot = index.add(key)
        if (slot < 0) return
        if (index.slotCapacity > at.length) {
          at = copied(at, new Float64Array(index.slotCapacity))
          until = copied(until, new Float64Array(index.slotCapacity))
          flags = copied(flags, new Uint8Array(index.slotCapacity))
          bankNumbers = copied(bankNumbers, new Float64Array(index.slotCapacity))
        }
      }
      at[slot] = entry.at
      until[slot] = entry.until
      const mapping = entry.v
      otherBanks.delete(slot)
      if (mapping === null) {
        flags[slot] = NOT_MAPPED
      } else if (mapping.banks.length === 1) {
        const [bank] = mapping.banks as [TenantBank]
        const number = asBankNumber(bank.bankId)
        flags[slot] = (bank.enabled ? ENABLED : 0) | (bank.isDefault ? DEFAULT : 0) | (number === undefined ? 0 : NUMERIC_BANK)
        if (number === undefined) otherBanks.set(slot, bank.bankId)
        else bankNumbers[slot] = number
      } else {
        flags[slot] = 0
        if (mapping.banks.length > 0) otherBanks.set(slot, Object.freeze(mapping.banks.map((bank) => Object.freeze({ ...bank }))))
      }
    },
    delete (key) {
      const slot = index.find(key)
      if (slot >= 0) release(slot)
    },
    clear () {
      index.clear()
      otherBanks.clear()
    },
    get size () { return index.size }
  }
}

function dropOldest (entries: Map<string, unknown>): void {
  const oldest = entries.keys().next().value
  if (oldest !== undefined) entries.delete(oldest)
}
