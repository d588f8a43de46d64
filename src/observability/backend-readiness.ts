/**
 * "The mapping source (or the shared cache) answered once" (CONTRACT.md §8), and neither
 * refuses the configuration (§10): both backends are probed at start and every 10 s, for
 * readiness and for the `/readyz` body, and a refusal is classified and logged.
 */
import type { Logger } from 'pino'
import type { Health } from './health.js'
import { classifyBackendFailure, type Backend } from '../backends/backend-failure.js'
import { failureReason } from '../backends/failure-reason.js'

/** How often readiness re-asks the mapping source and the shared cache, for the /readyz body. */
const PROBE_MS = 10_000

export interface ProbedBackend {
  readonly kind: string
  /** Resolves to what answered (`mysql 10.0.3.7:3306, TLS verified`). */
  ping (): Promise<string>
}

export interface BackendReadinessOptions {
  health: Health
  logger: Logger
  source: ProbedBackend
  cache: ProbedBackend & { ready (): Promise<void> }
  /** Whether the source is MySQL and anything reads it (no API profile reads no mappings). */
  usesMysql: boolean
}

export function watchBackendReadiness ({ health: all, logger, source, cache, usesMysql }: BackendReadinessOptions): { stop (): void } {
  // Its entries leave `/readyz` with it: a reload to a file source or a memory cache shows no stale one.
  const health = all.owned()
  health.register('mappings')
  if (usesMysql) health.register('source', 'verdict')
  if (cache.kind === 'redis') health.register('cache', 'verdict')

  const report = (name: string, backend: Backend, answer: PromiseSettledResult<string>): void => {
    if (answer.status === 'fulfilled') {
      health.report(name, 'up', answer.value)
      return
    }
    const failure = classifyBackendFailure(backend, answer.reason)
    health.report(name, 'down', failure.reason, failure)
    if (failure.misconfigured) logger.error({ backend, reason: failure.reason }, 'backend refuses the configuration')
  }
  const probe = async (): Promise<void> => {
    const [sourceAnswer, cacheAnswer] = await Promise.allSettled([source.ping(), cache.ready().then(async () => await cache.ping())])
    const up = sourceAnswer.status === 'fulfilled' || cacheAnswer.status === 'fulfilled'
    const why = (answer: PromiseSettledResult<string>): string => answer.status === 'rejected' ? failureReason(answer.reason) : 'answers'
    health.report('mappings', up ? 'up' : 'down', up ? undefined : `neither the mapping source (${why(sourceAnswer)}) nor the shared cache (${why(cacheAnswer)}) answers`)
    if (usesMysql) report('source', 'mysql', sourceAnswer)
    if (cache.kind === 'redis') report('cache', 'redis', cacheAnswer)
  }
  void probe()
  const timer = setInterval(() => { void probe() }, PROBE_MS)
  timer.unref()
  return {
    stop () {
      clearInterval(timer)
      health.release()
    }
  }
}
