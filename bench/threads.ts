/**
 * CPU a request by thread of one target under load (main thread, V8's GC workers, libuv's pool),
 * from /proc/<pid>/task/<tid>/stat: `npm run build && node --import tsx bench/threads.ts gateway-auth
 * [path]`; the path defaults to the 64 KiB answer, where the work off the main thread shows.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { TARGETS, startOrigin } from './targets.js'
import { DEFAULT_LOADER, runLoad } from './load.js'
const [name = 'gateway-auth', path = '/api/data?size=65536'] = process.argv.slice(2)
/** Clock ticks (USER_HZ, 100 a second on Linux) by thread name and id. */
const origin = await startOrigin()
const target = await TARGETS[name]!(origin.url)
const load = { url: `http://127.0.0.1:${target.port}`, path, connections: 32, requests: target.requests, cpu: 1 }
await runLoad(DEFAULT_LOADER, { ...load, duration: 3 })
const ticksByThread = (): Map<string, number> => {
  const m = new Map<string, number>()
  for (const tid of readdirSync(`/proc/${target.pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${target.pid}/task/${tid}/stat`, 'utf8')
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ticks = Number(f[11]) + Number(f[12])
      m.set(`${comm}#${tid}`, ticks)
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return m
}
const before = ticksByThread()
const r = await runLoad(DEFAULT_LOADER, { ...load, duration: 8 })
const after = ticksByThread()
console.log(`${name}: ${Math.round(r.rps)} req/s`)
for (const [thread, ticks] of after) {
  const spent = ticks - (before.get(thread) ?? 0)
  if (spent > 0) console.log(`${thread}: ${(spent * 10_000 / r.total).toFixed(2)} µs a request`)
}
process.kill(target.pid, 'SIGTERM')
origin.stop()
process.exit(0)
