import type { Test } from 'tap'
import { Writable } from 'node:stream'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify as stringifyYaml } from 'yaml'
import { parseConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/schema.js'
import { createLogger } from '../../src/observability/logger.js'
import { startGateway, type RunningGateway } from '../../src/server.js'
import { eventually } from './eventually.js'

export interface TestGateway extends RunningGateway {
  config: Readonly<Config>
  /** Every JSON log line the gateway wrote. */
  logs: Array<Record<string, unknown>>
  rawLog (): string
}

/** The same path production takes (parseConfig → startGateway), on ports 0, torn down by `t`. */
/**
 * `ready` (default true): wait until the gateway has been ready once, as a load balancer would
 * before sending it traffic (before that, authenticated routes answer GATEWAY_NOT_READY, §8);
 * a gateway that does not get there in 5 s is handed over as it is. Tests of a gateway that
 * never becomes ready pass `ready: false`.
 */
export async function startTestGateway (t: Test, raw: Record<string, unknown>, { env = {}, baseDir, mappings, ready = true }: { env?: NodeJS.ProcessEnv, baseDir?: string, mappings?: MappingsFile, ready?: boolean } = {}): Promise<TestGateway> {
  const server = { host: '127.0.0.1', port: 0, adminPort: 0, ...(raw.server as object | undefined) }
  const withMappings = raw.mappings === undefined && (mappings !== undefined || raw.apis !== undefined)
    ? { ...raw, mappings: { source: 'file', file: writeMappingsFile(t, mappings ?? {}) } }
    : raw
  const config = parseConfig({ ...withMappings, server }, { env, baseDir })
  const lines: string[] = []
  const destination = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      callback()
    }
  })
  const gateway = await startGateway(config, { logger: createLogger({ level: 'info', destination }) })
  t.teardown(() => gateway.shutdown())
  if (ready) await eventually(() => gateway.resources.health.wasReady(), Boolean, 5000)
  return {
    ...gateway,
    config,
    get logs () { return lines.map((line) => JSON.parse(line) as Record<string, unknown>) },
    rawLog () { return lines.join('\n') }
  }
}

export interface MappingsFile {
  banks?: Array<{ id: string, name: string, enabled?: boolean }>
  tenants?: Array<{ tenantId: string, banks: string[], default?: string }>
  clients?: Array<{ clientId: string, bankId: string, description?: string, secretExpiresAt?: string, enabled?: boolean }>
}

/** Writes a mappings file (CONTRACT.md §4 file source) into a temp dir removed by `t`. */
export function writeMappingsFile (t: Test, mappings: MappingsFile): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-mappings-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'mappings.yaml')
  writeFileSync(path, stringifyYaml(mappings))
  return path
}

/** A route on `auth: none` to `upstream`; the simplest config a proxy test needs. */
export function openRoute (upstream: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'open', prefix: '/open', upstream, auth: 'none', ...extra }
}

/** What `/readyz` answered: its status and JSON body. */
export interface Readiness {
  status: number
  body: { draining?: boolean, dependencies?: Record<string, { state: string }> }
}

export async function readiness (gateway: Pick<RunningGateway, 'adminUrl'>): Promise<Readiness> {
  const res = await fetch(`${gateway.adminUrl}/readyz`)
  return { status: res.status, body: await res.json() as Readiness['body'] }
}

/** Waits until `/readyz` answers 200; fetch counts taken after it exclude the start-up fetches. */
export async function untilReady (gateway: RunningGateway, timeoutMs = 10_000): Promise<void> {
  const last = await eventually(() => readiness(gateway), (ready) => ready.status === 200, timeoutMs)
  if (last.status !== 200) throw new Error(`the gateway was not ready within ${timeoutMs} ms: ${last.status} ${JSON.stringify(last.body)}`)
}
