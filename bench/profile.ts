/**
 * CPU profile of one target under load: `npm run build && node --import tsx bench/profile.ts
 * gateway-auth 10 [path]` writes a .cpuprofile to bench/results/ and prints the top self-time frames.
 */
import { readdirSync, readFileSync, mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TARGETS, startOrigin } from './targets.js'
import { DEFAULT_LOADER, runLoad } from './load.js'

const [name = 'gateway-auth', seconds = '10', path = '/api/data'] = process.argv.slice(2)
const dir = fileURLToPath(new URL('./results/profiles/', import.meta.url))
mkdirSync(dir, { recursive: true })
process.env.BENCH_NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${dir}`
const origin = await startOrigin()
const target = await TARGETS[name]!(origin.url)
const load = { url: `http://127.0.0.1:${target.port}`, path, connections: 32, requests: target.requests, cpu: 1 }
const warm = await runLoad(DEFAULT_LOADER, { ...load, duration: 3 })
const before = new Set(readdirSync(dir))
const result = await runLoad(DEFAULT_LOADER, { ...load, duration: Number(seconds) })
process.kill(target.pid, 'SIGTERM')
await new Promise((resolve) => setTimeout(resolve, 3000))
origin.stop()
// The largest new profile is the main thread's (tsx adds a loader thread).
const file = readdirSync(dir).filter((f) => !before.has(f) && f.endsWith('.cpuprofile')).map((f) => join(dir, f)).sort((a, b) => statSync(b).size - statSync(a).size)[0]
// Every request the process served (warm-up and measured), to turn self time into µs a request.
const served = warm.total + result.total
process.stdout.write(`${name}: ${Math.round(result.rps)} req/s; profile ${file}\n`)
if (file) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Array<{ id: number, callFrame: { functionName: string, url: string, lineNumber: number } }>, samples: number[], timeDeltas: number[] }
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const idle = profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').reduce((a, n) => a + (self.get(n.id) ?? 0), 0)
  process.stdout.write(`busy ${((total - idle) / served).toFixed(1)} µs a request over ${Math.round(served)} requests; columns: share of samples, µs a request\n`)
  const row = (time: number, label: string): string => `${(time / total * 100).toFixed(1).padStart(5)}% ${(time / served).toFixed(2).padStart(6)}  ${label}\n`
  const byFrame = new Map<string, number>()
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/main\//, '')}:${lineNumber + 1}`
    byFrame.set(key, (byFrame.get(key) ?? 0) + (self.get(node.id) ?? 0))
  }
  for (const [frame, time] of [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, 30)) process.stdout.write(row(time, frame))
  // Self time by package (or our own file), to see which layer costs what.
  const byPackage = new Map<string, number>()
  for (const node of profile.nodes) {
    const url = node.callFrame.url
    const key = url.includes('node_modules/') ? url.replace(/^.*node_modules\/((@[^/]+\/)?[^/]+).*$/, '$1') : url.includes('/dist/') ? url.replace(/^.*\/dist\//, 'dist/') : url.startsWith('node:') ? 'node:' + url.slice(5).split('/')[0] : (node.callFrame.functionName || '(native)')
    byPackage.set(key, (byPackage.get(key) ?? 0) + (self.get(node.id) ?? 0))
  }
  process.stdout.write('\nby package:\n')
  for (const [pkg, time] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(row(time, pkg))
}
process.exit(0)
