/**
 * Live reload (CONTRACT.md §14): SIGHUP or a change in the folder of the config file, the
 * mappings file or a `*File` secret → the file read and validated again → an app built from it
 * takes every new request at once, behind the same socket; requests in flight finish in the
 * app they started in. An invalid file changes nothing and logs every problem as
 * `path: message`. `server.*` needs a restart: logged, left as it was.
 *
 * The resources (JWKS store, mapping source and caches, Redis and MySQL connections, blocks,
 * rate limits) are kept as they are; a change to a section they are built from is logged as
 * needing a restart and left as it was, like `server.*`. The sections an app is built from
 * (`routes`, `cors`, `log`) apply live.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isDeepStrictEqual } from 'node:util'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/schema.js'
import { ConfigError, loadConfigFile } from '../config/load.js'
import { crossCheck } from '../config/cross-checks.js'
import type { Resources } from '../resources.js'
import type { RequestSwitch } from './request-switch.js'
import { createReloadMetrics } from './reload-metrics.js'
import { watchFolders } from './file-watch.js'

/** Applied live: what `buildApp` reads. Every other section but `server` is read by the resources. */
const APP_SECTIONS = new Set(['routes', 'cors', 'log'])

export interface ConfigReloadOptions {
  path: string
  env?: NodeJS.ProcessEnv
  config: Readonly<Config>
  resources: Resources
  requests: RequestSwitch
  buildApp: (config: Readonly<Config>, resources: Resources) => Promise<FastifyInstance>
}

export interface ConfigReload {
  readonly config: Readonly<Config>
  readonly sha256: string
  /** Reads the file again and applies it; resolves once done (or refused). */
  reload (): Promise<'ok' | 'invalid'>
  /** Stops watching; closes apps replaced by a reload. */
  close (): Promise<void>
}

export function createConfigReload (options: ConfigReloadOptions): ConfigReload {
  const { path, resources, requests } = options
  const { logger } = resources
  let active = options.config
  let sha256 = hashOf(path)
  const metrics = createReloadMetrics(resources.metrics.registry, sha256)
  const replaced = new Set<FastifyInstance>()
  let queue: Promise<'ok' | 'invalid'> = Promise.resolve('ok')

  async function apply (): Promise<'ok' | 'invalid'> {
    let next: Readonly<Config>
    let nextSha: string
    try {
      nextSha = hashOf(path)
      next = loadConfigFile(path, options.env)
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [`(file): ${(err as Error).message}`]
      metrics.reloaded('invalid')
      logger.error({ problems, path }, `config reload refused, the active config stays: ${problems.join('; ')}`)
      return 'invalid'
    }
    const merged = mergeLive(active, next)
    const problems = crossCheck(merged as never)
    if (problems.length > 0) {
      metrics.reloaded('invalid')
      logger.error({ problems, path }, `config reload refused, the active config stays: ${problems.join('; ')}`)
      return 'invalid'
    }
    const restart = Object.keys(next).filter((key) => !APP_SECTIONS.has(key) && !isDeepStrictEqual(next[key as keyof Config], active[key as keyof Config]))
    if (restart.length > 0) logger.warn({ sections: restart }, `config reload: ${restart.join(', ')} changed; applies at the next restart, left as it was`)
    if (!isDeepStrictEqual(merged, active)) {
      const app = await options.buildApp(merged, resources)
      await app.ready()
      const previous = requests.current
      requests.use(app)
      retire(previous, active)
    }
    active = merged
    sha256 = nextSha
    metrics.active(sha256)
    metrics.reloaded('ok')
    logger.info({ sha256, path }, 'config reloaded')
    return 'ok'
  }

  /** The replaced app closes once no request can still be in it: after the request timeout. */
  function retire (app: FastifyInstance, config: Readonly<Config>): void {
    replaced.add(app)
    const timer = setTimeout(() => {
      replaced.delete(app)
      if (app.server.listening) return // the first app owns the socket; it closes at shutdown
      app.close().catch(() => {})
    }, Math.max(config.server.requestTimeoutMs, config.server.shutdownGraceMs, 1000))
    timer.unref()
  }

  const reload = (): Promise<'ok' | 'invalid'> => {
    // One at a time, in order: a second change waits for the first to be applied.
    queue = queue.then(apply, apply)
    return queue
  }
  const files = [path, active.mappings.file, active.mappings.mysql?.passwordFile, active.cache.redis?.passwordFile, active.cache.redis?.sentinel?.passwordFile, active.entra.graph?.clientSecretFile]
  const stopWatching = watchFolders(files.filter((file): file is string => file !== undefined), () => { reload().catch(() => {}) })

  return {
    get config () { return active },
    get sha256 () { return sha256 },
    reload,
    async close () {
      stopWatching()
      await queue.catch(() => {})
      const current = requests.current
      await Promise.allSettled([...replaced, current].filter((app) => !app.server.listening).map(async (app) => await app.close()))
    }
  }
}

/** The new file's app sections over the active config: the rest waits for a restart. */
function mergeLive (active: Readonly<Config>, next: Readonly<Config>): Readonly<Config> {
  const merged: Record<string, unknown> = { ...active }
  for (const section of APP_SECTIONS) merged[section] = next[section as keyof Config]
  return Object.freeze(merged) as unknown as Readonly<Config>
}

function hashOf (path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}
