/**
 * Soak: the built gateway (`npm run build`) under wrk for `--minutes`, every request carrying one
 * of `--tokens` distinct tokens, each from its own tenant (so the mapping layer ends up holding
 * that many tenants and the token cache, 10,000 entries by default, turns over all the time).
 * RSS is read from /proc every 10 s; the report shows whether it levels off or keeps growing.
 *
 * `--hot-tokens N` first sends every token once (filling the mapping layer with all tenants),
 * then soaks with the first N only: steady traffic on a warm token cache. Once the fill's tokens
 * pass the token cache's ttlSec (300 s by default; `--token-ttl-sec` to get there sooner) the
 * cache holds the hot tokens only: the steady state.
 * `--source mysql` puts the tenants in a throwaway MariaDB (the production layout, with
 * `--store redis`); `file` keeps them in a mappings file, so the whole file is in the process too.
 *
 * The gateway runs with the chart's heap ceilings (`heapMaxMb`, `semiSpaceMb` in helm values.yaml) and the
 * image's MALLOC_ARENA_MAX, as in a pod.
 *
 *   npm run build && node --import tsx bench/soak.ts [--minutes 10] [--tokens 100000] [--source file|mysql] [--store memory|redis] [--hot-tokens N] [--token-ttl-sec S] [--banks N]
 */
import { parseArgs } from 'node:util'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import { parse } from 'yaml'
import { startLocalIssuer } from '../src/demo/local-issuer.js'
import type { Test } from 'tap'
import { startOrganizationsDb } from '../test/helpers/services.js'
import { benchRedis, startGateway, startOrigin } from './targets.js'
import { runLoad } from './load.js'

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    tokens: { type: 'string', default: '100000' },
    source: { type: 'string', default: 'file' },
    store: { type: 'string', default: 'memory' },
    'hot-tokens': { type: 'string' },
    'token-ttl-sec': { type: 'string' },
    // The tenants spread over this many banks; default: a bank of its own for each tenant.
    banks: { type: 'string' }
  }
})
const minutes = Number(values.minutes)
const count = Number(values.tokens)
const bankCount = values.banks === undefined ? count : Number(values.banks)
/** The i-th tenant's bank: 100000 + i, or that modulo `--banks`. */
const bankOf = (i: number): number => 100000 + (i % bankCount)
const CLIENT_ID = '00000000-0000-0000-0000-000000000001'
const chartValues = parse(readFileSync(new URL('../helm/bookme-gateway/values.yaml', import.meta.url), 'utf8')) as { heapMaxMb: number, semiSpaceMb: number }
process.env.BENCH_NODE_OPTIONS ??= `--max-old-space-size=${chartValues.heapMaxMb} --max-semi-space-size=${chartValues.semiSpaceMb}`
process.env.MALLOC_ARENA_MAX ??= '2' // as the image (Dockerfile) sets it

const issuer = await startLocalIssuer()
const tenants = Array.from({ length: count }, () => randomUUID())
const cleanups: Array<() => unknown> = []
// Interrupted or killed by a timeout: still stop the throwaway MariaDB and remove its data dir.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { void Promise.allSettled(cleanups.map(async (cleanup) => await cleanup())).then(() => process.exit(130)) })
}
const mappings = values.source === 'mysql' ? await mysqlMappings() : fileMappings()
process.stderr.write(`minting ${count} tokens…\n`)
// Ten hours: the soak must never see a token expire.
const requests = tenants.map((tenantId) => ({ headers: { authorization: `Bearer ${issuer.mint({ tenantId, audience: CLIENT_ID, lifetimeSec: 36000 })}` } }))

const origin = await startOrigin()
const store = values.store === 'redis'
  ? `cache: { store: redis, localTtlSec: ${minutes * 60 + 300}, redis: { url: "${await benchRedis()}" } }`
  : 'cache: { store: memory }'
const gateway = await startGateway([
  'server: { host: 127.0.0.1, port: 0, adminPort: 0 }',
  `entra: { authority: "${issuer.url}"${values['token-ttl-sec'] === undefined ? '' : `, tokenCache: { ttlSec: ${Number(values['token-ttl-sec'])} }`} }`,
  `apis: { management: { clientId: ${CLIENT_ID} } }`,
  mappings,
  store,
  'routes:',
  `  - { name: api, prefix: /api, upstream: "${origin.url}", api: management, roles: [Employee] }`
].join('\n'))
await new Promise((resolve) => setTimeout(resolve, 1000)) // first JWKS fetch

const adminUrl = /"adminUrl":"([^"]+)"/.exec(readFileSync(gateway.logFile, 'utf8').slice(0, 4096))![1]!
let gatewayGone = false
const rssMb = (): number => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gateway.pid}/status`, 'utf8'))![1]) / 1024
  } catch {
    gatewayGone = true // it died (the log file says why): reported below
    return NaN
  }
}
/** The gateway's own view (prom-client's default metrics on the admin port): V8 heap in use. */
async function heapUsedMb (): Promise<number> {
  return (await memoryMetricsMb())['heap_size_used'] ?? NaN
}
/** Heap used and committed (total and per V8 space) and external memory, in MB. */
async function memoryMetricsMb (): Promise<Record<string, number>> {
  try {
    const text = await (await fetch(`${adminUrl}/metrics`)).text()
    const out: Record<string, number> = {}
    for (const [, name, space, value] of text.matchAll(/^bookme_gateway_nodejs_(heap_size_\w+|heap_space_size_total|external_memory)_bytes(?:\{space="(\w+)"\})? (\S+)$/gm)) {
      out[space === undefined ? name! : `${space}`] = Number(value) / 1048576
    }
    return out
  } catch {
    return {}
  }
}
interface Sample { sec: number, rssMb: number, heapUsedMb: number }
const started = Date.now()
const sample = async (): Promise<Sample> => ({ sec: Math.round((Date.now() - started) / 1000), rssMb: rssMb(), heapUsedMb: await heapUsedMb() })
const samples: Sample[] = [await sample()]
const sampler = setInterval(() => { void sample().then((s) => samples.push(s)) }, 10_000)
const hot = values['hot-tokens'] === undefined ? undefined : Number(values['hot-tokens'])
let filled: Sample | undefined
if (hot !== undefined) {
  // Every token once, at least: the verification rate (~2,500/s here) sets how long that takes.
  await runLoad('wrk', { url: gateway.url, path: '/api/data', connections: 32, duration: Math.ceil(count / 1500), requests, cpu: 1 })
  filled = await sample()
}
const result = await runLoad('wrk', { url: gateway.url, path: '/api/data', connections: 32, duration: minutes * 60, requests: hot === undefined ? requests : requests.slice(0, hot), cpu: 1 })
clearInterval(sampler)
samples.push(await sample())
// At rest: V8's memory reducer collects and gives memory back once the allocation stops.
await new Promise((resolve) => setTimeout(resolve, 30_000))
const rest = await sample()
const restMemory = await memoryMetricsMb()
gateway.stop()
origin.stop()
for (const cleanup of cleanups) await cleanup()

const at = (sec: number): number => samples.find((s) => s.sec >= sec)?.rssMb ?? NaN
const afterWarmUp = at(60)
const last = samples[samples.length - 1]!.rssMb
const peak = Math.max(...samples.map((s) => s.rssMb))
const report = [
  ...(filled ? [`after sending all ${count} tokens once (${filled.sec} s): RSS ${filled.rssMb.toFixed(0)} MB, heap used ${filled.heapUsedMb.toFixed(0)} MB; then the soak sends the first ${hot} only`] : []),
  `soak: ${minutes} min, ${hot ?? count} distinct tokens, ${count} tenants mapped, source ${values.source}, store ${values.store}, node ${process.version} ${process.env.BENCH_NODE_OPTIONS} MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX}`,
  ...(gatewayGone ? [`THE GATEWAY DIED during the run: see ${gateway.logFile}`] : []),
  `requests ${result.total} (${Math.round(result.rps)} req/s), errors ${result.errors}, non-2xx ${result.non2xx}, p99 ${result.p99} ms`,
  `RSS MB: idle ${samples[0]!.rssMb.toFixed(0)}, at 1 min ${afterWarmUp.toFixed(0)}, peak ${peak.toFixed(0)}, end ${last.toFixed(0)}; growth from 1 min to end ${(last - afterWarmUp).toFixed(1)} MB`,
  `at rest 30 s after the load: RSS ${rest.rssMb.toFixed(0)} MB, heap used ${rest.heapUsedMb.toFixed(0)} MB`,
  `at rest, MB: ${Object.entries(restMemory).map(([name, mb]) => `${name} ${mb.toFixed(1)}`).join(', ')} (per-space figures are committed sizes)`,
  `heap used MB: at 1 min ${samples.find((s) => s.sec >= 60)?.heapUsedMb.toFixed(0)}, peak ${Math.max(...samples.map((s) => s.heapUsedMb)).toFixed(0)}, end ${samples[samples.length - 1]!.heapUsedMb.toFixed(0)}`,
  `per minute (RSS / heap used): ${samples.filter((s) => s.sec % 60 < 10).map((s) => `${Math.floor(s.sec / 60)}m ${s.rssMb.toFixed(0)}/${s.heapUsedMb.toFixed(0)}`).join(', ')}`
]
process.stdout.write(report.join('\n') + '\n')
writeFileSync(fileURLToPath(new URL(`./results/soak-${Date.now()}.json`, import.meta.url)), JSON.stringify({ values, result, samples, rest }, null, 2))
process.exit(0) // the in-process issuer would keep the harness alive

function fileMappings (): string {
  const file = join(mkdtempSync(join(tmpdir(), 'bookme-soak-')), 'mappings.json') // JSON is YAML
  writeFileSync(file, JSON.stringify({
    banks: tenants.slice(0, bankCount).map((_, i) => ({ id: String(bankOf(i)), name: `Bank ${i}` })),
    tenants: tenants.map((tenantId, i) => ({ tenantId, banks: [String(bankOf(i))] }))
  }))
  return `mappings: { source: file, file: "${file}" }`
}

async function mysqlMappings (): Promise<string> {
  // The test helper only needs somewhere to register its teardown.
  const db = await startOrganizationsDb({ teardown: (fn: () => unknown) => { cleanups.push(fn) } } as unknown as Test)
  for (let from = 0; from < tenants.length; from += 5000) {
    const batch = tenants.slice(from, from + 5000)
    const banks = batch.map((_, i) => from + i).filter((i) => i < bankCount)
    db.sql([
      ...(banks.length === 0 ? [] : [`INSERT INTO Banks VALUES ${banks.map((i) => `('${bankOf(i)}', 'Bank ${i}', 1)`).join(',')};`]),
      `INSERT INTO TenantBanks VALUES ${batch.map((tenantId, i) => `('${tenantId}', '${bankOf(from + i)}', 0)`).join(',')};`
    ].join('\n'), 'bp_organizations_db')
  }
  return `mappings: { source: mysql, mysql: { host: ${db.host}, port: ${db.port}, user: ${db.user}, password: ${db.password} } }`
}
