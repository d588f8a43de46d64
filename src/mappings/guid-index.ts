/**
 * GUID → slot number, with no object or string per entry: each GUID is kept as four 32-bit
 * words in a typed array and found through an open-addressing table (linear probing, deletion
 * by backward shift), and slots are chained in insertion order so the oldest can go first.
 * About 30 bytes an entry where a Map keyed by the GUID string costs about 95 (the
 * process layer's 100,000 tenants). The hash is seeded per process, so nobody can choose
 * tenant ids (anyone can create Entra tenants) that all land in one probe run.
 * A string that is not a GUID has no slot: the caller simply does not cache it.
 */
import { randomInt } from 'node:crypto'

export interface GuidIndex {
  /** The slot of `guid`, or -1. */
  find (guid: string): number
  /** Adds an absent `guid` as the newest entry; its slot, or -1 when `guid` is not a GUID. */
  add (guid: string): number
  remove (slot: number): void
  /** The slot added longest ago, or -1 when empty. */
  oldest (): number
  clear (): void
  readonly size: number
  /** Slots are numbered below this; it only grows (callers size their own columns by it). */
  readonly slotCapacity: number
}

const NONE = -1
const scratch = new Int32Array(4)

/** Parses the 32 hex digits of `8-4-4-4-12` (either case) into `into`; false for anything else. */
function parseGuid (text: string, into: Int32Array): boolean {
  if (text.length !== 36) return false
  let word = 0
  let digits = 0
  for (let i = 0; i < 36; i++) {
    const c = text.charCodeAt(i)
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false
      continue
    }
    const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1
    if (v < 0) return false
    word = (word << 4) | v
    if (++digits % 8 === 0) {
      into[digits / 8 - 1] = word
      word = 0
    }
  }
  return true
}

export function createGuidIndex ({ seed = randomInt(0x7fffffff) }: { seed?: number } = {}): GuidIndex {
  let capacity = 0
  let keys = new Int32Array(0) // four words per slot
  let newer = new Int32Array(0) // insertion-order chain
  let older = new Int32Array(0)
  let table = new Int32Array(8) // slot + 1; 0 = empty
  let mask = table.length - 1
  let head = NONE // oldest
  let tail = NONE // newest
  let size = 0
  let nextSlot = 0
  const freeSlots: number[] = []

  function hashWords (w0: number, w1: number, w2: number, w3: number): number {
    let h = seed ^ w0
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) ^ w1
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) ^ w2
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) ^ w3
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
    return (h ^ (h >>> 16)) >>> 0
  }
  const hashOfSlot = (slot: number): number => hashWords(keys[slot * 4]!, keys[slot * 4 + 1]!, keys[slot * 4 + 2]!, keys[slot * 4 + 3]!)

  /** The table position holding the parsed key in `scratch`, or the empty one where it would go. */
  function probe (): number {
    let i = hashWords(scratch[0]!, scratch[1]!, scratch[2]!, scratch[3]!) & mask
    for (;;) {
      const entry = table[i]!
      if (entry === 0) return i
      const k = (entry - 1) * 4
      if (keys[k] === scratch[0] && keys[k + 1] === scratch[1] && keys[k + 2] === scratch[2] && keys[k + 3] === scratch[3]) return i
      i = (i + 1) & mask
    }
  }

  function place (slot: number): void {
    let i = hashOfSlot(slot) & mask
    while (table[i] !== 0) i = (i + 1) & mask
    table[i] = slot + 1
  }

  function growSlots (): void {
    capacity = Math.max(256, capacity * 2)
    keys = copied(keys, new Int32Array(capacity * 4))
    newer = copied(newer, new Int32Array(capacity))
    older = copied(older, new Int32Array(capacity))
  }

  /** At most half full, so a probe run stays short. */
  function growTable (): void {
    table = new Int32Array(table.length * 2)
    mask = table.length - 1
    for (let slot = head; slot !== NONE; slot = newer[slot]!) place(slot)
  }

  return {
    find (guid) {
      if (!parseGuid(guid, scratch)) return NONE
      return table[probe()]! - 1
    },
    add (guid) {
      if (!parseGuid(guid, scratch)) return NONE
      if ((size + 1) * 2 > table.length) growTable()
      const at = probe()
      if (table[at] !== 0) throw new Error('GuidIndex.add: already present')
      let slot = freeSlots.pop()
      if (slot === undefined) {
        if (nextSlot === capacity) growSlots()
        slot = nextSlot++
      }
      keys.set(scratch, slot * 4)
      table[at] = slot + 1
      older[slot] = tail
      newer[slot] = NONE
      if (tail === NONE) head = slot
      else newer[tail] = slot
      tail = slot
      size++
      return slot
    },
    remove (slot) {
      let i = hashOfSlot(slot) & mask
      while (table[i] !== slot + 1) {
        if (table[i] === 0) return // not present
        i = (i + 1) & mask
      }
      // Backward shift: pull later entries of the run into the hole unless that would put
      // one before its home position, so every probe run stays unbroken.
      for (let j = (i + 1) & mask; table[j] !== 0; j = (j + 1) & mask) {
        const home = hashOfSlot(table[j]! - 1) & mask
        const movable = i <= j ? (home <= i || home > j) : (home <= i && home > j)
        if (movable) {
          table[i] = table[j]!
          i = j
        }
      }
      table[i] = 0
      const before = older[slot]!
      const after = newer[slot]!
      if (before === NONE) head = after
      else newer[before] = after
      if (after === NONE) tail = before
      else older[after] = before
      freeSlots.push(slot)
      size--
    },
    oldest: () => head,
    clear () {
      table.fill(0)
      head = tail = NONE
      size = 0
      nextSlot = 0
      freeSlots.length = 0
    },
    get size () { return size },
    get slotCapacity () { return capacity }
  }
}

/** `to`, holding `from` at its start. */
export function copied<A extends Int32Array | Float64Array | Uint8Array> (from: A, to: A): A {
  to.set(from)
  return to
}
