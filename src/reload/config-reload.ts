/**
 * Live reload (CONTRACT.md §14): SIGHUP or a change in the folder of the config file, the
 * mappings file or a `*File` secret → the files read and validated again → resources and an
 * app built from them take every new request at once, behind the same socket; requests in
 * flight finish in the app and with the resources they started with. An invalid file changes
 * nothing and logs every problem as `path: message`. `server.*` needs a restart: logged, left
 * as it was.
 *
 * Every other section applies live. The resources are revised part by part (resources.ts): a
 * part whose sections did not change is kept — the JWKS store with its keys, the MySQL pool, the
 * Redis connections — and a replaced one is closed once the last request that used it is done.
 * A new part that cannot be built or reached (a mappings file with an error, a Redis that does
 * not answer) refuses the reload like an invalid file.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isDeepStrictEqual } from 'node:util'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/schema.js'
import { ConfigError, loadConfigFile } from '../config/load.js'
import { crossCheck } from '../config/cross-checks.js'
import type { Resources } from '../resources.js'
import { failureReason } from '../backends/failure-reason.js'
import type { RequestSwitch } from './request-switch.js'
import { createReloadMetrics } from './reload-metrics.js'
import { watchFolders } from './file-watch.js'
import { backendTlsFiles } from '../backends/tls.js'

/** Sections read only when the process starts: the sockets and the server's own limits. */
const RESTART_SECTIONS = new Set(['server'])

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
  /** The resources new requests use. */
  readonly resources: Resources
  /** Reads the files again and applies them; resolves once done (or refused). */
  reload (): Promise<'ok' | 'invalid'>
  /** Stops watching; closes what replaced apps and resources still hold. */
  close (): Promise<void>
}

export function createConfigReload (options: ConfigReloadOptions): ConfigReload {
  const { path, requests } = options
  const { logger } = options.resources
  let active = options.config
  let resources = options.resources
  let sha256 = hashOf(path)
  const metrics = createReloadMetrics(resources.metrics.registry, sha256)
  const retiring = new Set<Promise<void>>()
  let queue: Promise<'ok' | 'invalid'> = Promise.resolve('ok')

  const refuse = (problems: string[]): 'invalid' => {
    metrics.reloaded('invalid')
    logger.error({ problems, path }, `config reload refused, the active config stays: ${problems.join('; ')}`)
    return 'invalid'
  }

  let closed = false
  async function apply (): Promise<'ok' | 'invalid'> {
    // Shutting down: the resources are being closed; nothing new is built.
    if (closed) return 'ok'
    let loaded: Readonly<Config>
    let nextSha: string
    try {
      nextSha = hashOf(path)
      loaded = loadConfigFile(path, options.env)
    } catch (err) {
      return refuse(err instanceof ConfigError ? err.problems : [`(file): ${(err as Error).message}`])
    }
    const next = withRestartSections(loaded, active)
    const problems = crossCheck(next as Config)
    if (problems.length > 0) return refuse(problems)

    const restart = [...RESTART_SECTIONS].filter((key) => !isDeepStrictEqual(loaded[key as keyof Config], active[key as keyof Config]))
    if (restart.length > 0) logger.warn({ sections: restart }, `config reload: ${restart.join(', ')} changed; applies at the next restart, left as it was`)
    // Both sides' keys: an optional section removed (`tracing`) is a change too.
    const changed = [...new Set([...Object.keys(next), ...Object.keys(active)])].filter((key) => !isDeepStrictEqual(next[key as keyof Config], active[key as keyof Config]))
    let revision
    try {
      // Files the config names (the mappings file, the assertion's keys) are read again here: a part is rebuilt when their content changed.
      revision = await resources.revise(next)
    } catch (err) {
      return refuse(err instanceof ConfigError ? err.problems : [`(resources): ${failureReason(err)}`])
    }
    if (changed.length === 0 && revision.rebuilt.length === 0) {
      await revision.discard()
    } else {
      let app: FastifyInstance
      try {
        app = await options.buildApp(next, revision.resources)
        await app.ready()
      } catch (err) {
        await revision.discard()
        return refuse([`(app): ${failureReason(err)}`])
      }
      const previous = { app: requests.current, resources, retire: revision.retire, config: active }
      requests.use(app)
      revision.activate()
      resources = revision.resources
      retire(previous)
      logger.info({ sections: changed, rebuilt: revision.rebuilt }, 'config reload: applied to new requests')
    }
    active = next
    sha256 = nextSha
    metrics.active(sha256)
    metrics.reloaded('ok')
    logger.info({ sha256, path }, 'config reloaded')
    rewatch()
    return 'ok'
  }

  /**
   * The replaced app and the parts only it used close once its last request is done (at most
   * the longer of the request timeout and the shutdown grace later), and never before the apps
   * replaced earlier are closed: a part this app kept from them may still serve their requests.
   * WebSocket sessions it relayed stay open: their end (expiry, a block) is the process's, not
   * the app's.
   */
  let retired: Promise<void> = Promise.resolve()
  function retire ({ app, resources: old, retire: closeParts, config }: { app: FastifyInstance, resources: Resources, retire: () => Promise<void>, config: Readonly<Config> }): void {
    const idle = old.inFlight.idle(Math.max(config.server.requestTimeoutMs, config.server.shutdownGraceMs))
    const done = Promise.all([idle, retired])
      .then(async () => {
        // The first app owns the socket; it closes at shutdown.
        if (!app.server.listening) await closeUnlistened(app)
        await closeParts()
        logger.info('config reload: the replaced app and the parts only it used are closed')
      })
      .catch((err: unknown) => { logger.warn({ reason: failureReason(err) }, 'config reload: a replaced app could not be closed') })
      .finally(() => { retiring.delete(done) })
    retiring.add(done)
    retired = done
  }

  const reload = (): Promise<'ok' | 'invalid'> => {
    // One at a time, in order: a second change waits for the first to be applied.
    queue = queue.then(apply, apply)
    return queue
  }

  let watched = ''
  let stopWatching = (): void => {}
  function rewatch (): void {
    const files = [path, ...watchedFiles(active)]
    if (files.join('\n') === watched) return
    stopWatching()
    watched = files.join('\n')
    stopWatching = watchFolders(files, () => { reload().catch(() => {}) })
  }
  rewatch()

  return {
    get config () { return active },
    get sha256 () { return sha256 },
    get resources () { return resources },
    reload,
    async close () {
      closed = true
      stopWatching()
      await queue.catch(() => {})
      await Promise.allSettled([...retiring])
      const current = requests.current
      if (!current.server.listening) await closeUnlistened(current).catch(() => {})
    }
  }
}

/**
 * Closes an app whose server never listened (its hooks: the upstream pools). Its server is left
 * as it is: @fastify/http-proxy makes closing it end every WebSocket session the app relays,
 * and those sessions outlive the app (their token's expiry or a block ends them).
 */
async function closeUnlistened (app: FastifyInstance): Promise<void> {
  app.server.close = function keepSessions (callback?: (err?: Error) => void) {
    callback?.()
    return this
  }
  await app.close()
}

/**
 * What a reload reads: the config file, the mappings file, the `*File` secrets, the assertion's
 * keys and the backends' TLS files (a rotated client certificate or CA makes new connections).
 */
function watchedFiles (config: Readonly<Config>): string[] {
  const files = [config.mappings.source === 'file' ? config.mappings.file : undefined, config.mappings.mysql?.passwordFile, config.cache.redis?.passwordFile, config.cache.redis?.sentinel?.passwordFile, config.entra.graph?.clientSecretFile, ...config.assertion.keys.map((key) => key.privateKeyFile)]
  const tls = backendTlsFiles(config)
  files.push(...tls.mysql, ...tls.redis)
  return files.filter((file): file is string => file !== undefined)
}

/** The new file with the sections that need a restart as they are now. */
function withRestartSections (next: Readonly<Config>, active: Readonly<Config>): Readonly<Config> {
  const merged: Record<string, unknown> = { ...next }
  for (const section of RESTART_SECTIONS) merged[section] = active[section as keyof Config]
  return Object.freeze(merged) as unknown as Readonly<Config>
}

function hashOf (path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}
