import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon, { type Request } from 'autocannon'

/** One load run's result, whichever generator drove it. */
export interface LoadResult { total: number, rps: number, p50: number, p99: number, errors: number, non2xx: number }

export interface LoadOptions {
  url: string
  path: string
  connections: number
  duration: number
  requests?: Request[]
  cpu: number
  /**
   * Each connection waits this long after an answer before its next request (wrk's `delay()`),
   * so the targets are compared at the same load below saturation. Latency is timed from the
   * write, without the wait.
   */
  paceMs?: number
}

const HAS_WRK = spawnSync('wrk', ['--version']).error === undefined
const HAS_TASKSET = spawnSync('taskset', ['-V']).status === 0

export const DEFAULT_LOADER = HAS_WRK ? 'wrk' : 'autocannon'

/**
 * wrk (C, one thread, pinned beside the origin) costs far less CPU per request than autocannon,
 * so on a 2-core machine the target, not the load generator, is what saturates. The request
 * stream (one Authorization value per request, rotated) is read by the script from a file.
 */
export async function runLoad (loader: string, options: LoadOptions): Promise<LoadResult> {
  return loader === 'wrk' ? await runWrk(options) : await runAutocannon(options)
}

async function runAutocannon ({ url, path, connections, duration, requests, paceMs }: LoadOptions): Promise<LoadResult> {
  if (paceMs !== undefined) throw new Error('--pace-ms needs wrk')
  const result = await autocannon({ url: url + path, connections, duration, requests: requests?.map((request) => ({ ...request, path })) })
  return { total: result.requests.total, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx }
}

async function runWrk ({ url, path, connections, duration, requests = [], cpu, paceMs }: LoadOptions): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-wrk-'))
  const script = join(dir, 'stream.lua')
  const tokens = join(dir, 'authorization.txt')
  writeFileSync(tokens, requests.map((request) => (request.headers as Record<string, string> | undefined)?.authorization).filter((v) => v !== undefined).join('\n') + '\n')
  writeFileSync(script, [
    'local tokens = {}',
    `for line in io.lines(${JSON.stringify(tokens)}) do if #line > 0 then tokens[#tokens + 1] = line end end`,
    'local i = 0',
    'request = function()',
    '  if #tokens == 0 then return wrk.format("GET", ' + JSON.stringify(path) + ') end',
    '  i = i % #tokens + 1',
    '  return wrk.format("GET", ' + JSON.stringify(path) + ', { ["authorization"] = tokens[i] })',
    'end',
    ...(paceMs === undefined ? [] : [`delay = function() return ${paceMs} end`]),
    'done = function(summary, latency)',
    '  local e = summary.errors',
    '  io.write(string.format("RESULT %d %d %f %f %d %d\\n", summary.requests, summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout, e.status))',
    'end'
  ].join('\n'))
  const args = ['-t1', `-c${connections}`, `-d${duration}s`, '-s', script, url + path]
  const [command, ...rest] = HAS_TASKSET ? ['taskset', '-c', String(cpu), 'wrk', ...args] : ['wrk', ...args]
  const child = spawn(command!, rest, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  await new Promise((resolve) => child.once('exit', resolve))
  const match = /RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) (\d+) (\d+)/.exec(out)
  if (!match) throw new Error(`wrk printed no result:\n${out}`)
  const [, total, micros, p50, p99, errors, non2xx] = match.map(Number) as number[]
  const ms = (x: number): number => Math.round(x * 100) / 100
  return { total: total!, rps: total! / (micros! / 1e6), p50: ms(p50!), p99: ms(p99!), errors: errors!, non2xx: non2xx! }
}
