/**
 * Steady request traffic at a fixed rate over many tenants' tokens, each answer checked: its
 * status and the bank the upstream was told (the echo upstream returns the headers it got).
 * Load generation for fault tests, not a benchmark.
 */
export interface Caller {
  token: string
  /** The bank this caller's answer must carry. */
  bankId: string
}

export interface TrafficReport {
  /** Requests sent (at the fixed rate, unless `maxInFlight` held some back). */
  offered: number
  total: number
  byStatus: Record<string, number>
  /** 2xx answers whose bank was not the caller's. */
  wrongBank: number
  /** Request start (ms since epoch) and status of every 5xx or transport failure. */
  failures: Array<{ at: number, status: number | string }>
  elapsedMs: number
  /** How long requests were being sent (to `stop()`, before the last answers are awaited). */
  sendingMs: number
}

export function startTraffic (url: string, callers: Caller[], { ratePerSec = 300, maxInFlight = 512 } = {}): { stop: () => Promise<TrafficReport> } {
  const report: TrafficReport = { offered: 0, total: 0, byStatus: {}, wrongBank: 0, failures: [], elapsedMs: 0, sendingMs: 0 }
  const started = Date.now()
  let launched = 0
  let inFlight = 0
  const pending = new Set<Promise<void>>()
  const one = async (caller: Caller): Promise<void> => {
    const at = Date.now()
    try {
      const res = await fetch(url, { headers: { authorization: `Bearer ${caller.token}` } })
      const body = await res.json() as { headers?: Record<string, string> }
      report.byStatus[res.status] = (report.byStatus[res.status] ?? 0) + 1
      if (res.status >= 500) report.failures.push({ at, status: res.status })
      if (res.ok && body.headers?.['x-bookme-bank-id'] !== caller.bankId) report.wrongBank++
    } catch (err) {
      report.failures.push({ at, status: (err as Error).message })
    } finally {
      report.total++
    }
  }
  const tick = setInterval(() => {
    const due = Math.floor((Date.now() - started) * ratePerSec / 1000)
    while (launched < due && inFlight < maxInFlight) {
      const caller = callers[launched % callers.length]!
      launched++
      inFlight++
      const request = one(caller).finally(() => { inFlight--; pending.delete(request) })
      pending.add(request)
    }
  }, 5)
  return {
    async stop () {
      clearInterval(tick)
      report.sendingMs = Date.now() - started
      await Promise.all(pending)
      report.elapsedMs = Date.now() - started
      report.offered = launched
      return report
    }
  }
}
