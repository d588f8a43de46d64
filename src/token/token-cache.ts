/**
 * Verified tokens, so a hot token skips the RSA verification (CONTRACT.md §3). Bounded by
 * `maxEntries` (oldest inserted goes first); an entry lives until min(exp, ttlSec after it was
 * verified). The caller stores the whole token and its profile with each entry and compares
 * both on a hit (authenticator.ts), so a token verified for one API profile is never accepted
 * for another from cache. `maxEntries` 0 disables it.
 *
 * Expired entries are also swept from the oldest end, a few every few hundred reads: once a
 * burst of tokens has expired, steady traffic on a few hot ones would otherwise keep the dead
 * ones in memory until as many new tokens pushed them out (the pod's memory budget).
 */
export interface TokenCache<T> {
  get (key: string): T | undefined
  set (key: string, value: T, expiresAt: number): void
  readonly size: number
}

const SWEEP_EVERY = 256
const SWEEP_BATCH = 16

export function createTokenCache<T> ({ maxEntries, ttlSec, now = Date.now }: { maxEntries: number, ttlSec: number, now?: () => number }): TokenCache<T> {
  const entries = new Map<string, { value: T, expiresAt: number }>()
  let reads = 0
  function sweepOldest (): void {
    const at = now()
    let budget = SWEEP_BATCH
    // Inserted oldest first, and nearly always with the same ttlSec: so expired first too.
    for (const [key, entry] of entries) {
      if (budget-- === 0 || entry.expiresAt > at) return
      entries.delete(key)
    }
  }
  return {
    get (key) {
      if (++reads === SWEEP_EVERY) {
        reads = 0
        sweepOldest()
      }
      const entry = entries.get(key)
      if (entry === undefined) return undefined
      if (now() >= entry.expiresAt) {
        entries.delete(key)
        return undefined
      }
      return entry.value
    },
    set (key, value, expiresAt) {
      if (maxEntries === 0) return
      const until = Math.min(expiresAt, now() + ttlSec * 1000)
      if (until <= now()) return
      if (!entries.has(key) && entries.size >= maxEntries) {
        const oldest = entries.keys().next().value
        if (oldest !== undefined) entries.delete(oldest)
      }
      entries.set(key, { value, expiresAt: until })
    },
    get size () { return entries.size }
  }
}
