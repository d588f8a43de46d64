/**
 * One log line per key per interval. A failing backend is retried on every attempt (ioredis
 * reconnects, Graph lookups per request): its first failure is worth a line, the next
 * thousand in the same half-minute are not.
 */
export function createLogThrottle (intervalMs: number, now: () => number = Date.now): (key?: string) => boolean {
  const loggedAt = new Map<string, number>()
  return function shouldLog (key = '') {
    const at = now()
    if (at - (loggedAt.get(key) ?? -Infinity) < intervalMs) return false
    loggedAt.set(key, at)
    return true
  }
}
