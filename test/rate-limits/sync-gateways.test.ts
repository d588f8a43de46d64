import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { startRedis } from '../helpers/services.js'
import { eventually } from '../helpers/eventually.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, MULTI_BANK_TENANT, startIssuer } from '../helpers/issuer.js'

// rateLimits.syncMs (CONTRACT.md §12) through two gateways sharing one Redis.

/** Ten a second, a hundred at once; with syncMs 1000 a pod admits at most ⌈1000 / 100⌉ = 10 a view. */
const POLICY = { name: 'bank-api', routes: ['meetings'], key: 'bank', limit: 36000, windowSec: 3600, burst: 100 }
const QUOTA = 10

async function twoGateways (t: Test, rateLimits: Record<string, unknown>, store: 'redis' | 'memory' = 'redis'): Promise<{ gateways: TestGateway[], port: number, kill: () => Promise<void>, token: (tenant: string) => string }> {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const redis = await startRedis(t)
  const raw = { ...authConfig(issuer, upstream.url), cache: store === 'redis' ? { store, redis: { url: redis.url } } : { store }, rateLimits }
  const gateways = [await startTestGateway(t, raw, { mappings: DEFAULT_MAPPINGS }), await startTestGateway(t, raw, { mappings: DEFAULT_MAPPINGS })]
  return { gateways, port: redis.port, kill: redis.kill, token: (tenantId) => issuer.mint({ tenantId, audience: MGMT_CLIENT, claims: { roles: ['Employee'] } }) }
}

/** `n` requests at once, spread over `gateways` in turn; the number admitted. */
async function admitted (gateways: TestGateway[], n: number, token: string, bank?: string): Promise<number> {
  const statuses = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const res = await fetch(`${gateways[i % gateways.length]!.proxyUrl}/api/meetings/x`, { headers: { authorization: `Bearer ${token}`, ...(bank === undefined ? {} : { 'x-bank-context': bank }) } })
    await res.arrayBuffer()
    return res.status
  }))
  t.same([...new Set(statuses)].filter((s) => s !== 200 && s !== 429), [], 'nothing but 200 and 429')
  return statuses.filter((s) => s === 200).length
}

function redisCli (port: number, ...args: string[]): string {
  return spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout
}

function scriptCalls (port: number): number {
  const stats = redisCli(port, 'INFO', 'commandstats')
  return ['evalsha', 'eval'].reduce((sum, name) => sum + Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0), 0)
}

t.test('syncMs 1000: two gateways admit at most the burst + 2 × 10, in far fewer round trips; a gateway that admitted nothing sees the other\'s usage', async (t) => {
  const { gateways, port, token } = await twoGateways(t, { policies: [POLICY], syncMs: 1000 })
  const started = Date.now()
  const total = await admitted(gateways, 400, token(BANK_TENANT))
  const refill = Math.ceil((Date.now() - started) / 100)
  t.ok(total >= 100 && total <= 100 + 2 * QUOTA + refill, `${total} of 400 admitted: burst 100, bound ${100 + 2 * QUOTA} (+${refill} refilled in ${Date.now() - started} ms)`)
  const calls = scriptCalls(port)
  t.ok(calls < 100, `${calls} script calls for 400 requests`)

  // Bank 2001 only through the first gateway, until it refuses.
  const since = Date.now()
  const refilled = (): number => Math.ceil((Date.now() - since) / 100)
  const first = await admitted([gateways[0]!], 150, token(MULTI_BANK_TENANT), '2001')
  t.ok(first >= 100 && first <= 100 + refilled(), `one gateway alone: ${first} of 150, as the per-request script`)
  // Its last admissions reach Redis at its next reconcile: the TAT then runs `first` intervals from the start, less what drained.
  const key = 'bookme:gw:rl:{2001}:bank-api'
  const held = async (): Promise<number> => {
    const [seconds, micros] = redisCli(port, 'TIME').trim().split('\n').map(Number)
    return (Number(redisCli(port, 'GET', key)) - (seconds! * 1e6 + micros!)) / 100_000 + refilled()
  }
  const inRedis = await eventually(held, (n) => n >= first - 1, 5000)
  t.ok(inRedis >= first - 1, `Redis holds what the first gateway admitted (${inRedis.toFixed(1)} of ${first})`)
  const second = await admitted([gateways[1]!], 50, token(MULTI_BANK_TENANT), '2001')
  t.ok(second <= refilled() - (first - 100), `the second gateway, which had admitted nothing for bank 2001, admits only what refilled since (${second} of 50)`)
})

t.test('Redis killed: each gateway limits alone at limit / replicas, as without syncMs', async (t) => {
  const { gateways, kill, token } = await twoGateways(t, { policies: [{ ...POLICY, limit: 10, burst: 10 }], replicas: 2, syncMs: 1000 })
  t.equal(await admitted(gateways, 4, token(BANK_TENANT)), 4, 'shared: 4 of 10 used')
  await kill()
  // A view read before the failure may still admit its quota (1 here); then the reconcile fails and the pod counts alone: 10 / 2 = 5.
  const alone = await admitted([gateways[0]!], 8, token(BANK_TENANT)) + await admitted([gateways[1]!], 8, token(BANK_TENANT))
  t.ok(alone >= 10 && alone <= 12, `${alone} of 16: five a pod, never unlimited, never 5xx`)
  t.ok(gateways.every((gateway) => gateway.logs.some((line) => /rate limits: the shared store failed/.test(String(line.msg)))), 'both switched, and said so')
})

t.test('syncMs 0 (the default) still counts every request in Redis: exactly the burst', async (t) => {
  const { gateways, port, token } = await twoGateways(t, { policies: [{ ...POLICY, limit: 100 }], syncMs: 0 })
  t.equal(await admitted(gateways, 300, token(BANK_TENANT)), 100)
  t.ok(scriptCalls(port) > 2, 'counted in Redis')
})

t.test('the memory store ignores syncMs: each process counts alone, exactly', async (t) => {
  const { gateways, token } = await twoGateways(t, { policies: [{ ...POLICY, burst: 3 }], syncMs: 1000 }, 'memory')
  t.equal(await admitted([gateways[0]!], 6, token(BANK_TENANT)), 3)
  t.equal(await admitted([gateways[1]!], 6, token(BANK_TENANT)), 3)
})
