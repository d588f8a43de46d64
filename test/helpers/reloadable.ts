/**
 * A gateway started on a config file of its own, reloaded as an operator would: the file
 * rewritten, then the reload run (the watcher may run it too; the same content applies once).
 */
import type { Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { stringify } from 'yaml'
import { loadConfigFile } from '../../src/config/load.js'
import { createLogger } from '../../src/observability/logger.js'
import { startGateway, type RunningGateway } from '../../src/server.js'
import { eventually } from './eventually.js'

export interface Reloadable {
  gw: RunningGateway
  lines: string[]
  /** Writes the config file and reloads; resolves to the reload's result. */
  apply (raw: Record<string, unknown>): Promise<'ok' | 'invalid'>
}

export async function startReloadable (t: Test, dir: string, raw: Record<string, unknown>, server: Record<string, unknown> = {}): Promise<Reloadable> {
  const path = join(dir, 'gateway.yaml')
  const write = (next: Record<string, unknown>): void => { writeFileSync(path, stringify({ ...next, server: { host: '127.0.0.1', port: 0, adminPort: 0, ...server } })) }
  write(raw)
  const lines: string[] = []
  const destination = new Writable({ write (chunk: Buffer, _e, done) { lines.push(...chunk.toString().split('\n').filter(Boolean)); done() } })
  const gw = await startGateway(loadConfigFile(path, {}), { configPath: path, env: {}, logger: createLogger({ level: 'info', destination }) })
  t.teardown(() => gw.shutdown())
  await eventually(() => gw.resources.health.wasReady(), Boolean, 10_000)
  return {
    gw,
    lines,
    async apply (next) {
      write(next)
      return await gw.reload!.reload()
    }
  }
}

export function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-reload-sections-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export async function call (url: string, token: string): Promise<{ status: number, code?: string, headers: Headers }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
  const body = await res.text()
  return { status: res.status, headers: res.headers, ...(res.status >= 400 ? { code: (JSON.parse(body) as { code: string }).code } : {}) }
}
