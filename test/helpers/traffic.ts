import { fork } from 'node:child_process'
import { once } from 'node:events'

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
  /** When each request was sent (ms since epoch). */
  starts: number[]
}

export interface TrafficOptions { ratePerSec?: number, maxInFlight?: number }

const SENDER = new URL('./traffic-sender.ts', import.meta.url)

/**
 * The traffic, sent from a process of its own (traffic-sender.ts): in the test's process it
 * would share one event loop with the gateway under test, and the offered rate would sag with
 * the gateway's own work (and the suite's other files on the other core). Resolves once sending
 * has begun.
 */
export async function startTraffic (url: string, callers: Caller[], options: TrafficOptions = {}): Promise<{ stop: () => Promise<TrafficReport> }> {
  const child = fork(SENDER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const exited = once(child, 'exit')
  const started = once(child, 'message')
  child.send({ url, callers, options })
  await Promise.race([started, exited.then(() => { throw new Error('the traffic sender exited before it started') })])
  return {
    async stop () {
      const answer = once(child, 'message')
      child.send('stop')
      const [report] = await Promise.race([answer, exited.then(() => { throw new Error('the traffic sender exited without its report') })]) as [TrafficReport]
      child.disconnect()
      return report
    }
  }
}

/** The sending loop itself, in the calling process. */
export function runTraffic (url: string, callers: Caller[], { ratePerSec = 300, maxInFlight = 512 }: TrafficOptions = {}): { stop: () => Promise<TrafficReport> } {
  const report: TrafficReport = { offered: 0, total: 0, byStatus: {}, wrongBank: 0, failures: [], elapsedMs: 0, sendingMs: 0, starts: [] }
  const started = Date.now()
  let launched = 0
  let inFlight = 0
  const pending = new Set<Promise<void>>()
  const one = async (caller: Caller): Promise<void> => {
    const at = Date.now()
    report.starts.push(at)
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
