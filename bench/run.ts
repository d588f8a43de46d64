/**
 * Side-by-side benchmark: each target is a real process in front of the same origin, driven by
 * wrk (or autocannon, `--loader`), in interleaved rounds (A B A B …) so drift hits all alike.
 * Servers under test are pinned to CPU 0 and the origin and load generator to CPU 1 when
 * `taskset` exists. Reports median req/s, p99 latency and CPU seconds per 10k requests, and
 * ratios against the first target paired round by round.
 *
 *   npm run bench -- [--duration 10] [--rounds 3] [--connections 32] [--targets bare,gateway-open]
 *                    [--pace-ms 10] [--body 64k] [--layout split|shared] [--origin-chunked]
 *
 * `--layout shared` puts the origin on the target's core and leaves the load generator a core
 * of its own; `--origin-chunked` makes the origin stream its answer in 16 KiB writes without a
 * content-length. Both are how other harnesses on 2-core machines tend to be set up.
 *
 * `--pace-ms` compares latency at one load below saturation: each connection waits that long
 * after an answer (wrk only). At saturation on two cores the load generator and the origin share
 * a core, and the tail moves with them more than with the target.
 */
import { parseArgs } from 'node:util'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { TARGETS, TargetUnavailable, startOrigin, type Started } from './targets.js'
import { DEFAULT_LOADER, runLoad } from './load.js'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    // The baseline-* targets only when there is another build to run (BENCH_BASELINE_DIST).
    targets: { type: 'string', default: Object.keys(TARGETS).filter((name) => process.env.BENCH_BASELINE_DIST !== undefined || !name.startsWith('baseline-')).join(',') },
    body: { type: 'string', default: 'small' },
    loader: { type: 'string', default: DEFAULT_LOADER },
    'pace-ms': { type: 'string' },
    // shared: the origin on the target's core (CPU 0), the load generator alone on CPU 1.
    layout: { type: 'string', default: 'split' },
    'origin-chunked': { type: 'boolean', default: false }
  }
})
const duration = Number(values.duration)
const rounds = Number(values.rounds)
const connections = Number(values.connections)
let names = values.targets!.split(',')
const path = values.body === '64k' ? '/api/data?size=65536' : '/api/data'
const paceMs = values['pace-ms'] === undefined ? undefined : Number(values['pace-ms'])

/** `mainPer10k`: the event loop's thread alone. Requests queue behind it, so it sets latency. */
interface Round { rps: number, p50: number, p99: number, cpuPer10k: number, mainPer10k: number, errors: number, non2xx: number }

function cpuSeconds (pid: number, thread?: number): number {
  // /proc/<pid>/stat fields 14 and 15: utime and stime in clock ticks (100 Hz on Linux).
  const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function measure (target: Started): Promise<Round> {
  const before = cpuSeconds(target.pid)
  const mainBefore = cpuSeconds(target.pid, target.pid)
  // The load generator shares CPU 1 with the origin; the target has CPU 0 to itself.
  const result = await runLoad(values.loader!, { url: `http://127.0.0.1:${target.port}`, path, connections, duration, requests: target.requests, cpu: 1, paceMs })
  const cpu = cpuSeconds(target.pid) - before
  const main = cpuSeconds(target.pid, target.pid) - mainBefore
  const per10k = (seconds: number): number => result.total > 0 ? seconds / result.total * 10_000 : NaN
  return { rps: result.rps, p50: result.p50, p99: result.p99, cpuPer10k: per10k(cpu), mainPer10k: per10k(main), errors: result.errors, non2xx: result.non2xx }
}

/** The target's peak resident set (VmHWM), MB: what a container's memory limit is measured against. */
function peakRssMb (pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match === null ? NaN : Number(match[1]) / 1024
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }

if (values.layout !== 'split' && values.layout !== 'shared') throw new Error('--layout is split or shared')
const origin = await startOrigin({ cpu: values.layout === 'shared' ? 0 : 1, chunked: values['origin-chunked'] })
const started: Record<string, Started> = {}
for (const name of names) {
  const target = TARGETS[name]
  if (!target) throw new Error(`unknown target ${name}; known: ${Object.keys(TARGETS).join(', ')}`)
  try {
    started[name] = await target(origin.url)
  } catch (error) {
    if (!(error instanceof TargetUnavailable)) throw error
    process.stderr.write(`skipping ${name}: ${error.message}\n`)
  }
}
names = names.filter((name) => started[name] !== undefined)
const results: Record<string, Round[]> = Object.fromEntries(names.map((n) => [n, []]))
const peakRss: Record<string, number> = {}
try {
  for (const name of names) await measure(started[name]!) // warm-up, JIT and pools
  for (let round = 0; round < rounds; round++) {
    for (const name of names) {
      const r = await measure(started[name]!)
      results[name]!.push(r)
      process.stderr.write(`round ${round + 1} ${name}: ${Math.round(r.rps)} req/s p50 ${r.p50} p99 ${r.p99} ms cpu/10k ${r.cpuPer10k.toFixed(2)} s (main thread ${r.mainPer10k.toFixed(2)}) errors ${r.errors} non2xx ${r.non2xx}\n`)
    }
  }
  for (const name of names) peakRss[name] = peakRssMb(started[name]!.pid)
} finally {
  for (const s of Object.values(started)) s.stop()
  origin.stop()
}

const base = names[0]!
// Ratios are paired: each round's target against the same round's baseline, then the median of
// those. Drift on a shared machine moves both sides of a pair alike and cancels out.
const pairedRatio = (name: string, pick: (r: Round) => number): number =>
  median(results[name]!.map((r, i) => pick(r) / pick(results[base]![i]!)))
const lines = [
  `node ${process.version}, ${values.loader}, ${connections} connections${paceMs === undefined ? '' : `, paced ${paceMs} ms`}, ${duration} s × ${rounds} rounds, body ${values.body}, layout ${values.layout}${values['origin-chunked'] ? ', chunked origin' : ''}`,
  '',
  '| target | req/s (median) | min–max | p50 ms | p99 ms | CPU s / 10k req | main thread | req/s ratio vs ' + base + ' | CPU ratio | p99 ratio | peak RSS MB |',
  '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
]
for (const name of names) {
  const rs = results[name]!
  const rps = median(rs.map((r) => r.rps))
  const cpu = median(rs.map((r) => r.cpuPer10k))
  const bad = rs.reduce((n, r) => n + r.errors + r.non2xx, 0)
  lines.push(`| ${name}${bad ? ` (${bad} errors/non-2xx)` : ''} | ${Math.round(rps)} | ${Math.round(Math.min(...rs.map((r) => r.rps)))}–${Math.round(Math.max(...rs.map((r) => r.rps)))} | ${median(rs.map((r) => r.p50))} | ${median(rs.map((r) => r.p99))} | ${cpu.toFixed(2)} | ${median(rs.map((r) => r.mainPer10k)).toFixed(2)} | ${pairedRatio(name, (r) => r.rps).toFixed(2)} | ${pairedRatio(name, (r) => r.cpuPer10k).toFixed(2)} | ${pairedRatio(name, (r) => r.p99).toFixed(2)} | ${Math.round(peakRss[name] ?? NaN)} |`)
}
process.stdout.write(lines.join('\n') + '\n')
// bench/results/ is not in the repository (its JSON files are ignored): made on first use.
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url))
mkdirSync(resultsDir, { recursive: true })
writeFileSync(`${resultsDir}${Date.now()}.json`, JSON.stringify({ values, results, peakRss }, null, 2))
process.exit(0) // the in-process test issuer would keep the harness alive
