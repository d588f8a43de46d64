/** A client secret this close to expiry is logged as a warning. */
import type { Logger } from 'pino'
import type { Gauge } from 'prom-client'
import type { MappingSource } from './source.js'

const SECRET_WARNING_DAYS = 30
const RECHECK_MS = 3_600_000

/**
 * Publishes every bank client's secret expiry as a gauge (alert on it in Prometheus) and warns
 * in the log about secrets expiring within 30 days: an expired secret silently stops a bank's
 * back office. Read at start and hourly; a failing source is retried at the next round.
 */
export function watchClientSecrets (source: MappingSource, gauge: Gauge<'client_id' | 'bank_id'>, logger: Logger, now: () => number = Date.now): { stop: () => void } {
  async function refresh (): Promise<void> {
    let clients
    try {
      clients = await source.clients()
    } catch (err) {
      logger.warn({ err: { message: (err as Error).message } }, 'bank client list could not be read')
      return
    }
    gauge.reset()
    for (const client of clients) {
      if (client.secretExpiresAt === null) continue
      const expiresAt = Date.parse(client.secretExpiresAt)
      gauge.set({ client_id: client.clientId, bank_id: client.bankId }, expiresAt / 1000)
      const days = Math.floor((expiresAt - now()) / 86_400_000)
      if (client.enabled && days < SECRET_WARNING_DAYS) {
        logger.warn({ clientId: client.clientId, bankId: client.bankId, secretExpiresAt: client.secretExpiresAt, days }, days < 0 ? 'bank client secret has expired' : 'bank client secret expires soon')
      }
    }
  }
  void refresh()
  const timer = setInterval(() => { void refresh() }, RECHECK_MS)
  timer.unref()
  return { stop: () => { clearInterval(timer) } }
}
