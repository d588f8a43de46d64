import type { TenantBank, TenantMapping } from './source.js'

/**
 * The per-process layer of the mapping cache: for each key, the answer (`null` = not mapped),
 * when it was read from the source (`at`) and until when this process serves it without asking
 * again (`until`). Bounded: at `maxEntries` the oldest inserted key goes first.
 */
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

const ENABLED = 1
const DEFAULT = 2
const NOT_MAPPED = 4

/**
 * Tenants, packed (issue 7: 100,000 of them within the pod's memory). Each tenant is its key
 * in one Map, pointing at a slot in a few columns: timestamps in Float64Arrays (no boxed
 * numbers), and for the usual one-bank tenant just the bank id and a flags byte. That is about
 * 150 bytes a tenant against about 460 for an entry object holding a stored answer holding a
 * mapping holding an array holding a bank. The price is a small mapping object built per read.
 */
export function createTenantLayer (maxEntries: number): LocalLayer<TenantMapping> {
  const slots = new Map<string, number>()
  const freeSlots: number[] = []
  let nextSlot = 0
  let at = new Float64Array(256)
  let until = new Float64Array(256)
  let flags = new Uint8Array(256)
  // A one-bank tenant's bank id; otherwise its banks as read (none, or several).
  const banks: Array<string | readonly TenantBank[] | undefined> = []

  function takeSlot (): number {
    const reused = freeSlots.pop()
    if (reused !== undefined) return reused
    if (nextSlot === at.length) {
      at = grown(at, new Float64Array(at.length * 2))
      until = grown(until, new Float64Array(until.length * 2))
      flags = grown(flags, new Uint8Array(flags.length * 2))
    }
    return nextSlot++
  }

  function release (key: string, slot: number): void {
    slots.delete(key)
    banks[slot] = undefined
    freeSlots.push(slot)
  }

  return {
    get (key) {
      const slot = slots.get(key)
      if (slot === undefined) return undefined
      const packed = banks[slot]
      const bits = flags[slot]!
      const v: TenantMapping | null = (bits & NOT_MAPPED) !== 0
        ? null
        : { tenantId: key, banks: typeof packed === 'string' ? [{ bankId: packed, enabled: (bits & ENABLED) !== 0, isDefault: (bits & DEFAULT) !== 0 }] : packed ?? [] }
      return { v, at: at[slot]!, until: until[slot]! }
    },
    set (key, entry) {
      let slot = slots.get(key)
      if (slot === undefined) {
        if (slots.size >= maxEntries) {
          const oldest = slots.entries().next().value
          if (oldest !== undefined) release(oldest[0], oldest[1])
        }
        if (maxEntries === 0) return
        slot = takeSlot()
        slots.set(key, slot)
      }
      at[slot] = entry.at
      until[slot] = entry.until
      const mapping = entry.v
      if (mapping === null) {
        flags[slot] = NOT_MAPPED
        banks[slot] = undefined
      } else if (mapping.banks.length === 1) {
        const [bank] = mapping.banks as [TenantBank]
        flags[slot] = (bank.enabled ? ENABLED : 0) | (bank.isDefault ? DEFAULT : 0)
        banks[slot] = bank.bankId
      } else {
        flags[slot] = 0
        banks[slot] = Object.freeze(mapping.banks.map((bank) => Object.freeze({ ...bank })))
      }
    },
    delete (key) {
      const slot = slots.get(key)
      if (slot !== undefined) release(key, slot)
    },
    clear () {
      slots.clear()
      freeSlots.length = 0
      banks.length = 0
      nextSlot = 0
    },
    get size () { return slots.size }
  }
}

function dropOldest (entries: Map<string, unknown>): void {
  const oldest = entries.keys().next().value
  if (oldest !== undefined) entries.delete(oldest)
}

function grown<A extends Float64Array | Uint8Array> (from: A, to: A): A {
  to.set(from)
  return to
}
