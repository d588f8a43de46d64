/**
 * CPU per request without the machine's noise: each target runs under valgrind's callgrind,
 * which counts the instructions it executes (all threads: JIT, GC, the libuv pool), and a fixed
 * number of requests is sent once the target is warm. On a separate native run, strace counts
 * the system calls of the same number of requests. Both counts repeat to within a fraction of a
 * percent on a busy machine, where req/s and CPU seconds move ±20 % between rounds; what they
 * miss is the time spent inside the kernel per system call and cache effects, so read them
 * beside `run.ts`, not instead of it.
 *
 *   node --import tsx bench/instructions.ts [--targets bare,gateway-auth] [--requests 4000] [--body 64k] [--measure instructions,syscalls]
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Pool } from 'undici'
import { TARGETS, startOrigin, type Started } from './targets.js'

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'bare,gateway-auth,peer-fastify-jwt,peer-express' },
    requests: { type: 'string', default: '4000' },
    warmup: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '8' },
    body: { type: 'string', default: 'small' },
    measure: { type: 'string', default: 'instructions,syscalls' }
  }
})
const requests = Number(values.requests)
const measures = values.measure!.split(',')
const path = values.body === '64k' ? '/api/data?size=65536' : '/api/data'

/** Sends `count` requests over `connections` keep-alive connections, rotating the request stream (its headers whole). */
async function send (target: Started, count: number): Promise<void> {
  const pool = new Pool(target.url, { connections: Number(values.connections), pipelining: 1 })
  const headerSets = (target.requests ?? []).map((r) => (r.headers ?? {}) as Record<string, string>)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      const headers = headerSets.length === 0 ? {} : headerSets[i % headerSets.length]
      const { statusCode, body } = await pool.request({ method: 'GET', path, headers })
      await body.dump({ limit: Infinity })
      if (statusCode !== 200) throw new Error(`request ${i}: status ${statusCode}`)
    }
  }
  await Promise.all(Array.from({ length: Number(values.connections) }, worker))
  await pool.close()
}

async function run (command: string, args: string[]): Promise<void> {
  const child = spawn(command, args, { stdio: 'inherit' })
  await new Promise((resolve) => child.once('exit', resolve))
}

/** Instructions per request: zero callgrind's counters once warm, send, dump, read the total. */
async function instructionsPerRequest (name: string, originUrl: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-callgrind-'))
  process.env.BENCH_WRAPPER = `valgrind --tool=callgrind --callgrind-out-file=${dir}/cg.out --dump-line=no --compress-strings=no --instr-atstart=no`
  const target = await TARGETS[name]!(originUrl)
  delete process.env.BENCH_WRAPPER
  try {
    // Warm-up uninstrumented (several times faster), so the request path is optimized first.
    await send(target, Number(values.warmup))
    await run('callgrind_control', ['--instr=on', String(target.pid)])
    await send(target, 200)
    await run('callgrind_control', ['--zero', String(target.pid)])
    await send(target, requests)
    await run('callgrind_control', ['--dump', String(target.pid)])
    const dump = readdirSync(dir).filter((f) => f.startsWith('cg.out.')).sort().at(-1)
    const totals = /^(?:summary|totals): (\d+)/m.exec(readFileSync(join(dir, dump!), 'utf8'))
    // Under callgrind, V8's optimizing compiler never goes quiet (about a fifth of the counted
    // instructions, whatever the warm-up: 20,000 or 150,000 requests; without it, natively, it
    // is done within the warm-up), so its share is left out: what remains repeats within 0.3 %
    // across runs with different warm-ups and V8 flags.
    const annotated = spawnSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', join(dir, dump!)], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout
    const compiling = /^\s*([\d,]+) .*(?:OptimizingCompileDispatcher::CompileTask::RunInternal|TurbofanCompilationJob::ExecuteJobImpl|PipelineCompilationJob::ExecuteJobImpl)/m.exec(annotated)
    const share = compiling ? Number(compiling[1]!.replaceAll(',', '')) / Number(totals![1]) : 0
    process.stderr.write(`${name}: ${(share * 100).toFixed(1)} % of the counted instructions were TurboFan compiling (left out); the dump: ${join(dir, dump!)}\n`)
    return Number(totals![1]) * (1 - share) / requests
  } finally { target.stop() }
}

/** System calls per request, counted by strace attached for the measured requests only. */
async function syscallsPerRequest (name: string, originUrl: string): Promise<number> {
  const target = await TARGETS[name]!(originUrl)
  const out = join(mkdtempSync(join(tmpdir(), 'bookme-strace-')), 'strace.txt')
  try {
    await send(target, Number(values.warmup))
    const strace = spawn('strace', ['-f', '-c', '-q', '-o', out, '-p', String(target.pid)], { stdio: 'ignore' })
    await new Promise((resolve) => setTimeout(resolve, 500)) // attached to every thread
    await send(target, requests)
    strace.kill('SIGINT')
    await new Promise((resolve) => strace.once('exit', resolve))
    const table = readFileSync(out, 'utf8')
    if (process.env.BENCH_VERBOSE) process.stderr.write(`${name}:\n${table}`)
    const total = /^[\d.\s]+?(\d+)\s+(?:\d+\s+)?total$/m.exec(table)
    return Number(total![1]) / requests
  } finally { target.stop() }
}

const origin = await startOrigin()
const rows: string[] = []
try {
  const base: { ir?: number, sc?: number } = {}
  for (const name of values.targets!.split(',')) {
    const ir = measures.includes('instructions') ? await instructionsPerRequest(name, origin.url) : NaN
    const sc = measures.includes('syscalls') ? await syscallsPerRequest(name, origin.url) : NaN
    base.ir ??= ir
    base.sc ??= sc
    const line = `| ${name} | ${Math.round(ir).toLocaleString('en')} | ${(ir / base.ir).toFixed(3)} | ${sc.toFixed(2)} | ${(sc / base.sc).toFixed(2)} |`
    process.stderr.write(line + '\n')
    rows.push(line)
  }
} finally { origin.stop() }
process.stdout.write([
  `node ${process.version}, ${requests} requests after ${values.warmup} warm-up, ${values.connections} connections, body ${values.body}`,
  '',
  '| target | instructions / request | ratio | system calls / request | ratio |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...rows
].join('\n') + '\n')
process.exit(0)
