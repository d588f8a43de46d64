/**
 * The proxy-port app as `buildApp` makes it, over real resources, never listening: for tests of
 * what the gateway does to a request and its answer that need no socket of their own
 * (`app.inject`). Tests of the wire — raw bytes, upgrades, connection handling, readiness over
 * time — start a whole gateway (gateway.ts) instead.
 */
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { parseConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/schema.js'
import { createLogger } from '../../src/observability/logger.js'
import { createResources, type Resources } from '../../src/resources.js'
import { buildApp } from '../../src/app.js'
import { writeMappingsFile, type MappingsFile } from './gateway.js'

export interface TestApp {
  app: FastifyInstance
  resources: Resources
  config: Readonly<Config>
}

/** `raw` as a config file would state it (ports need not be given); app and resources closed by `t`. */
export async function buildTestApp (t: Test, raw: Record<string, unknown>, { mappings }: { mappings?: MappingsFile } = {}): Promise<TestApp> {
  const withMappings = raw.mappings === undefined && (mappings !== undefined || raw.apis !== undefined)
    ? { ...raw, mappings: { source: 'file', file: writeMappingsFile(t, mappings ?? {}) } }
    : raw
  const config = parseConfig({ ...withMappings, server: { host: '127.0.0.1', port: 0, adminPort: 0, ...(raw.server as object | undefined) } }, { env: {} })
  const resources = await createResources(config, { logger: createLogger({ level: 'silent' }) })
  const app = await buildApp(config, resources)
  t.teardown(async () => {
    await app.close()
    await resources.close()
  })
  await app.ready()
  return { app, resources, config }
}
