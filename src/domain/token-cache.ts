/**
 * Verified tokens, so a hot token skips the RSA verification (CONTRACT.md §3). Bounded by
 * `maxEntries` (oldest inserted goes first); an entry lives until min(exp, ttlSec after it was
 * verified). The caller keys entries by profile too, so a token verified for one API profile
 * is never accepted for another from cache. `maxEntries` 0 disables it.
 */
export interface TokenCache<T> {
  get (key: string): T | undefined
  set (key: string, value: T, expiresAt: number): void
  readonly size: number
}

export function createTokenCache<T> ({ maxEntries, ttlSec, now = Date.now }: { maxEntries: number, ttlSec: number, now?: () => number }): TokenCache<T> {
  const entries = new Map<string, { value: T, expiresAt: number }>()
  return {
    get (key) {
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
