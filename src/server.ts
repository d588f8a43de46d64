/**
 * The gateway process: resources, the proxy-port and admin-port instances, listening, and the
 * drain on SIGTERM (CONTRACT.md §9). The only place that opens ports.
 */
import type { FastifyInstance } from 'fastify'
import type { Config } from './config/schema.js'
import { buildApp } from './app.js'
import { buildAdminApp } from './admin-app.js'
import { createResources, type ResourceOptions, type Resources } from './resources.js'
import { flushLogger } from './observability/logger.js'
import { deferContinue } from './http/expect-continue.js'
import { createRequestSwitch } from './reload/request-switch.js'
import { createConfigReload, type ConfigReload } from './reload/config-reload.js'

export interface GatewayOptions extends ResourceOptions {
  /** The config file: with it, SIGHUP and changes to it (or its mappings file, `*File` secrets) reload (CONTRACT.md §14). */
  configPath?: string
  env?: NodeJS.ProcessEnv
}

export interface RunningGateway {
  app: FastifyInstance
  admin: FastifyInstance
  resources: Resources
  proxyUrl: string
  adminUrl: string
  /** Live reload, when started with `configPath`. */
  reload: ConfigReload | undefined
  /** Drain (CONTRACT.md §9): readiness off, new requests SHUTTING_DOWN, wait, then close. */
  shutdown (): Promise<void>
}

/** Resources → both instances → listen. The only place that opens ports. */
export async function startGateway (config: Readonly<Config>, options: GatewayOptions = {}): Promise<RunningGateway> {
  const resources = await createResources(config, options)
  const app = await buildApp(config, resources)
  let reload: ConfigReload | undefined
  const admin = await buildAdminApp(() => reload?.resources ?? resources, { configSha256: () => reload?.sha256 })
  deferContinue(app.server)
  try {
    const adminUrl = await admin.listen({ host: config.server.host, port: config.server.adminPort, listenTextResolver: (address) => `admin port listening at ${address}` })
    const proxyUrl = await app.listen({ host: config.server.host, port: config.server.port, listenTextResolver: (address) => `proxy port listening at ${address}` })
    if (options.configPath !== undefined) {
      const requests = createRequestSwitch(app.server, app)
      reload = createConfigReload({ path: options.configPath, env: options.env, config, resources, requests, buildApp })
    }
    resources.logger.info({ proxyUrl, adminUrl }, 'gateway listening')
    flushLogger(resources.logger)
    let draining: Promise<void> | undefined
    return {
      app,
      admin,
      resources,
      proxyUrl,
      adminUrl,
      reload,
      shutdown () {
        draining ??= drain(config, { app, admin, resources, reload })
        return draining
      }
    }
  } catch (err) {
    await Promise.allSettled([app.close(), admin.close(), resources.close()])
    throw err
  }
}

async function drain (config: Readonly<Config>, { app, admin, resources, reload }: Pick<RunningGateway, 'app' | 'admin' | 'resources' | 'reload'>): Promise<void> {
  const inFlight = resources.allInFlight
  resources.health.startDraining()
  resources.logger.info({ inFlight: inFlight.count, graceMs: config.server.shutdownGraceMs }, 'draining')
  const drained = await inFlight.idle(config.server.shutdownGraceMs)
  if (!drained) resources.logger.warn({ inFlight: inFlight.count }, 'grace period over; closing remaining connections')
  await app.close()
  await admin.close()
  // Apps and resources a reload replaced close with it; then the ones in use now.
  await reload?.close()
  await (reload?.resources ?? resources).close()
  resources.logger.info('stopped')
}

/** SIGTERM/SIGINT → drain → exit 0, with a hard stop shortly after the grace period. */
export function exitOnSignals (gateway: RunningGateway, config: Readonly<Config>): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    gateway.resources.logger.info({ signal }, 'shutdown requested')
    const exit = (): never => {
      flushLogger(gateway.resources.logger)
      process.exit(0)
    }
    setTimeout(exit, config.server.shutdownGraceMs + 1500).unref()
    gateway.shutdown().then(exit, (err: unknown) => {
      gateway.resources.logger.error({ err }, 'shutdown failed')
      exit()
    })
  }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  process.on('SIGHUP', () => {
    gateway.resources.logger.info({ signal: 'SIGHUP' }, 'config reload requested')
    gateway.reload?.reload().catch(() => {})
  })
}
