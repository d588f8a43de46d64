import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { parseList } from 'structured-headers'
import { startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { startTestGateway, untilReady, type TestGateway } from '../helpers/gateway.js'
import { startRedis } from '../helpers/services.js'
import { startCluster } from '../helpers/redis-topologies.js'
import { eventually } from '../helpers/eventually.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, MULTI_BANK_TENANT, startIssuer } from '../helpers/issuer.js'
import type { LocalIssuer } from '../../src/demo/local-issuer.js'

// CONTRACT.md §12 against real Redis, two gateway processes' worth of gateways sharing it.

interface Setup {
  issuer: LocalIssuer
  upstream: TestUpstream
  redis: Awaited<ReturnType<typeof startRedis>>
  gateways: TestGateway[]
  tokenA: string
  tokenB: string
}

async function setup (t: Test, rateLimits: Record<string, unknown>, { count = 2, store = 'redis', redisConfig }: { count?: number, store?: 'redis' | 'memory', redisConfig?: Record<string, unknown> } = {}): Promise<Setup> {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const redis = await startRedis(t)
  const raw = {
    ...authConfig(issuer, upstream.url),
    cache: store === 'redis' ? { store: 'redis', redis: redisConfig ?? { url: redis.url } } : { store: 'memory' },
    rateLimits
  }
  const gateways: TestGateway[] = []
  for (let i = 0; i < count; i++) {
    const gateway = await startTestGateway(t, raw, { mappings: DEFAULT_MAPPINGS })
    await untilReady(gateway)
    gateways.push(gateway)
  }
  return {
    issuer,
    upstream,
    redis,
    gateways,
    tokenA: issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Employee'] } }),
    tokenB: issuer.mint({ tenantId: MULTI_BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Employee'] } })
  }
}

interface Answer { status: number, headers: Headers, body: string }

/** Bank A is 1001 (its tenant has one bank), bank B is 2001. */
async function call (gateway: TestGateway, token: string, bank?: string): Promise<Answer> {
  const res = await fetch(`${gateway.proxyUrl}/api/meetings/x`, { headers: { authorization: `Bearer ${token}`, ...(bank ? { 'x-bank-context': bank } : {}) } })
  return { status: res.status, headers: res.headers, body: await res.text() }
}

/** `n` requests spread over the gateways in turn, all at once. */
async function burst (gateways: TestGateway[], n: number, token: string, bank?: string): Promise<Answer[]> {
  return await Promise.all(Array.from({ length: n }, async (_, i) => await call(gateways[i % gateways.length]!, token, bank)))
}

function statuses (answers: Answer[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const res of answers) counts[res.status] = (counts[res.status] ?? 0) + 1
  return counts
}

async function metric (gateway: TestGateway, line: RegExp): Promise<number> {
  const text = await (await fetch(`${gateway.adminUrl}/metrics`)).text()
  const found = text.split('\n').find((l) => line.test(l))
  return found === undefined ? 0 : Number(found.slice(found.lastIndexOf(' ') + 1))
}

function upstreamCount (upstream: TestUpstream, bank: string): number {
  return upstream.requests.filter((r) => r.headers['x-bookme-bank-id'] === bank).length
}

/**
 * What GCRA may admit over `elapsedMs` from idle: the burst, plus one per interval that passed
 * (on a fast machine the whole exchange takes under a second: 100–102 for 100 a minute).
 */
function allowedWithin (burstSize: number, intervalMs: number, elapsedMs: number): number {
  return burstSize + Math.floor(elapsedMs / intervalMs) + 1
}

const POLICY = { name: 'bank-api', routes: ['meetings'], key: 'bank', limit: 100, windowSec: 60 }

t.test('100 a minute for bank A across two gateways: 100–102 admitted, the rest 429 with an honest Retry-After; bank B unaffected', async (t) => {
  const { gateways, tokenA, tokenB, upstream } = await setup(t, { policies: [POLICY] })
  const started = Date.now()
  const [answersA, answersB] = await Promise.all([burst(gateways, 160, tokenA), burst(gateways, 60, tokenB, '2001')])
  const admitted = answersA.filter((r) => r.status === 200).length
  t.ok(admitted >= 100 && admitted <= allowedWithin(100, 600, Date.now() - started), `admitted ${admitted} of 160 in ${Date.now() - started} ms`)
  t.same(Object.keys(statuses(answersA)).sort(), ['200', '429'], 'nothing but 200 and 429')
  t.equal(upstreamCount(upstream, '1001'), admitted, 'a refused request never reaches the upstream')
  t.same(statuses(answersB), { 200: 60 }, 'bank B at full speed meanwhile')

  const refused = answersA.find((r) => r.status === 429)!
  t.equal(refused.headers.get('content-type'), 'application/problem+json; charset=utf-8')
  const retryAfter = Number(refused.headers.get('retry-after'))
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After ${retryAfter} is whole seconds, at least 1`)
  t.match(JSON.parse(refused.body), { code: 'RATE_LIMITED', status: 429, detail: /"bank-api"; retry after \d+ s/ })
  // Honest: a request sent once the advertised time has passed is admitted.
  let latest = await call(gateways[1]!, tokenA)
  // Time has passed since the burst: spend what refilled meanwhile, until refused.
  while (latest.status === 200) latest = await call(gateways[1]!, tokenA)
  const wait = Number(latest.headers.get('retry-after'))
  await new Promise((resolve) => setTimeout(resolve, wait * 1000))
  t.equal((await call(gateways[1]!, tokenA)).status, 200, `admitted after Retry-After (${wait} s)`)

  t.ok(await metric(gateways[0]!, /^bookme_gateway_rate_limited_total\{policy="bank-api"\}/) > 0, 'rate_limited_total{policy} counts the refusals')
})

t.test('an override for bank A doubles its allowance, and only bank A\'s', async (t) => {
  const { gateways, tokenA, tokenB } = await setup(t, { policies: [POLICY], overrides: { 1001: { 'bank-api': { limit: 200 } } } })
  const started = Date.now()
  const [answersA, answersB] = await Promise.all([burst(gateways, 260, tokenA), burst(gateways, 130, tokenB, '2001')])
  const elapsed = Date.now() - started
  const admittedA = answersA.filter((r) => r.status === 200).length
  const admittedB = answersB.filter((r) => r.status === 200).length
  t.ok(admittedA >= 200 && admittedA <= allowedWithin(200, 300, elapsed), `bank A: ${admittedA} admitted in ${elapsed} ms`)
  t.ok(admittedB >= 100 && admittedB <= allowedWithin(100, 600, elapsed), `bank B: ${admittedB} admitted`)
  t.equal(answersA[0]!.headers.get('ratelimit-policy'), '"bank-api";q=200;w=60', 'the policy field states the override')
  t.equal(answersB[0]!.headers.get('ratelimit-policy'), '"bank-api";q=100;w=60')
})

t.test('burst: that many at once are admitted, the next one is not', async (t) => {
  const { gateways, tokenA, upstream } = await setup(t, { policies: [{ ...POLICY, limit: 6, burst: 5 }] })
  t.same(statuses(await burst(gateways, 5, tokenA)), { 200: 5 })
  const next = await call(gateways[0]!, tokenA)
  t.equal(next.status, 429)
  const retryAfter = Number(next.headers.get('retry-after'))
  t.ok(retryAfter >= 9 && retryAfter <= 10, `one more every 10 s, 6 a minute: Retry-After ${retryAfter}`)
  t.equal(upstreamCount(upstream, '1001'), 5)
})

t.test('500 concurrent requests against a limit of 100 admit exactly 100', async (t) => {
  const { gateways, tokenA, upstream, redis } = await setup(t, { policies: [{ ...POLICY, windowSec: 3600 }] })
  const answers = await burst(gateways, 500, tokenA)
  t.same(statuses(answers), { 200: 100, 429: 400 })
  t.equal(upstreamCount(upstream, '1001'), 100)
  // Atomic per request, in scripts: EVALSHA, with EVAL only to load the script once per connection;
  // requests arriving together share one call.
  const stats = redisCli(redis.port, 'INFO', 'commandstats')
  const calls = (name: string): number => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)
  t.ok(calls('evalsha') + calls('eval') <= 500, `${calls('evalsha') + calls('eval')} script calls for 500 requests`)
  t.equal(calls('eval'), 2, 'the script itself sent once per gateway connection, EVALSHA after that')
  const key = redisCli(redis.port, 'KEYS', '*rl:*').trim()
  t.equal(key, 'bookme:gw:rl:{1001}:bank-api', 'one counter, in the bank\'s hash slot')
  const ttl = Number(redisCli(redis.port, 'PTTL', key))
  t.ok(ttl > 0 && ttl <= 3600_000, `the counter expires on its own (${ttl} ms)`)
})

t.test('refusals for any other reason use no allowance', async (t) => {
  const { gateways, tokenA, issuer, upstream } = await setup(t, { policies: [{ ...POLICY, limit: 3, windowSec: 3600 }] })
  const noRole = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Customer'] } })
  for (let i = 0; i < 5; i++) {
    t.equal((await call(gateways[0]!, noRole)).status, 403)
    t.equal((await call(gateways[0]!, `${tokenA}x`)).status, 401)
  }
  t.same(statuses(await burst(gateways, 4, tokenA)), { 200: 3, 429: 1 })
  for (let i = 0; i < 5; i++) t.equal((await call(gateways[1]!, tokenA)).status, 429)
  t.equal(upstreamCount(upstream, '1001'), 3)
})

t.test('the rate-limit fields parse as RFC 9651 structured fields, on admitted and refused answers', async (t) => {
  const { gateways, tokenA, issuer } = await setup(t, {
    policies: [{ ...POLICY, limit: 4, burst: 2 }, { name: 'per-user', routes: ['meetings'], key: 'principal', limit: 1000, windowSec: 3600 }]
  })
  const first = await call(gateways[0]!, tokenA)
  t.same(parseList(first.headers.get('ratelimit-policy')!), [['bank-api', new Map([['q', 4], ['w', 60]])], ['per-user', new Map([['q', 1000], ['w', 3600]])]])
  t.same(parseList(first.headers.get('ratelimit')!), [['bank-api', new Map([['r', 1], ['t', 0]])], ['per-user', new Map([['r', 999], ['t', 0]])]])
  const second = await call(gateways[1]!, tokenA)
  t.same(parseList(second.headers.get('ratelimit')!), [['bank-api', new Map([['r', 0], ['t', 15]])], ['per-user', new Map([['r', 998], ['t', 0]])]])
  const third = await call(gateways[0]!, tokenA)
  t.equal(third.status, 429)
  const fields = parseList(third.headers.get('ratelimit')!)
  t.same(fields[0], ['bank-api', new Map([['r', 0], ['t', 15]])], 'the refusing policy: nothing left, 15 s until one more')
  t.same(fields[1], ['per-user', new Map([['r', 998], ['t', 0]])], 'the other policy counted nothing for the refused request')
  t.equal(third.headers.get('retry-after'), '15')
  t.equal(third.headers.get('x-request-id')?.length !== 0, true)
  const unauthenticated = await fetch(`${gateways[0]!.proxyUrl}/api/meetings/x`)
  t.equal(unauthenticated.status, 401)
  t.equal(unauthenticated.headers.get('ratelimit-policy'), '"bank-api";q=4;w=60, "per-user";q=1000;w=3600', 'every answer of a limited route states the policy')
  t.equal(unauthenticated.headers.get('ratelimit'), null, 'an answer that counted nothing reports no remaining')
  const system = await fetch(`${gateways[0]!.proxyUrl}/system/x`, { headers: { authorization: `Bearer ${issuer.mint({ audience: '00000000-0000-0000-0000-000000000002' })}` } })
  t.equal(system.headers.get('ratelimit-policy'), null, 'a route no policy covers carries no fields')
})

t.test('headers: false counts the same and sends no fields but Retry-After', async (t) => {
  const { gateways, tokenA } = await setup(t, { policies: [{ ...POLICY, limit: 1 }], headers: false }, { count: 1 })
  const ok = await call(gateways[0]!, tokenA)
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('ratelimit'), null)
  t.equal(ok.headers.get('ratelimit-policy'), null)
  const refused = await call(gateways[0]!, tokenA)
  t.equal(refused.status, 429)
  t.equal(refused.headers.get('retry-after'), '60')
  t.equal(refused.headers.get('ratelimit'), null)
})

t.test('with the memory store each process applies the same rule alone', async (t) => {
  const { gateways, tokenA, upstream } = await setup(t, { policies: [{ ...POLICY, burst: 3 }] }, { store: 'memory' })
  t.same(statuses(await burst([gateways[0]!], 4, tokenA)), { 200: 3, 429: 1 })
  t.same(statuses(await burst([gateways[1]!], 4, tokenA)), { 200: 3, 429: 1 }, 'the other process has its own counters')
  t.equal(upstreamCount(upstream, '1001'), 6)
})

t.test('Redis killed: each pod limits alone at limit / replicas at once, no 5xx; Redis back: shared again', async (t) => {
  const { gateways, tokenA, redis } = await setup(t, { policies: [{ ...POLICY, limit: 10, windowSec: 3600 }], replicas: 2 })
  t.same(statuses(await burst(gateways, 4, tokenA)), { 200: 4 }, 'shared: 4 of 10 used')
  await redis.kill()
  const killedAt = Date.now()
  const first = await call(gateways[0]!, tokenA)
  t.equal(first.status, 200, 'the first request after the failure is counted by the pod alone')
  t.ok(Date.now() - killedAt < 1000, 'within a second of the failure')
  // Each pod alone: 10 / 2 = 5 at once, whatever the shared count was.
  const alone = [...await burst([gateways[0]!], 6, tokenA), ...await burst([gateways[1]!], 7, tokenA)]
  t.same(statuses([first, ...alone]), { 200: 10, 429: 4 }, 'five per pod, never unlimited, never 5xx')
  for (const gateway of gateways) t.ok(await metric(gateway, /^bookme_gateway_rate_limit_fallback_total /) >= 7, 'rate_limit_fallback_total counts them')
  t.ok(gateways[0]!.logs.some((line) => /rate limits: the shared store failed/.test(String(line.msg))), 'the switch is logged')

  await redis.restart()
  // The restarted Redis holds no counters: once shared again, a pod admits past its own five.
  const shared = await eventually(async () => await call(gateways[0]!, tokenA), (res) => res.status === 200, 10_000)
  t.equal(shared.status, 200, 'shared again once Redis answers')
  t.equal(redisCli(redis.port, 'KEYS', '*rl:*').trim(), 'bookme:gw:rl:{1001}:bank-api', 'counted in Redis again')
  t.ok(gateways[0]!.logs.some((line) => /rate limits: the shared store answers again/.test(String(line.msg))), 'and the way back')
})

t.test('Redis that stops answering (SIGSTOP): commands time out, the pod counts alone, no 5xx', async (t) => {
  const { gateways, tokenA, redis } = await setup(t, { policies: [{ ...POLICY, limit: 10, windowSec: 3600 }], replicas: 2 }, { count: 1 })
  t.equal((await call(gateways[0]!, tokenA)).status, 200)
  const pid = spawnSync('redis-cli', ['-p', String(redis.port), 'INFO', 'server'], { encoding: 'utf8' }).stdout.match(/process_id:(\d+)/)?.[1]
  process.kill(Number(pid), 'SIGSTOP')
  t.teardown(() => { try { process.kill(Number(pid), 'SIGCONT') } catch {} })
  const started = Date.now()
  const answers = await burst(gateways, 8, tokenA)
  t.ok(Date.now() - started < 1000, `answered within a second (${Date.now() - started} ms)`)
  t.same(statuses(answers), { 200: 5, 429: 3 }, 'the pod alone: 10 / 2 = 5')
  process.kill(Number(pid), 'SIGCONT')
  const back = await eventually(async () => await call(gateways[0]!, tokenA), (res) => res.status === 200, 10_000)
  t.equal(back.status, 200, 'shared again: Redis still had 1 of 10 used')
})

t.test('Redis Cluster: a request\'s counters share its bank\'s slot, so several policies count in one script', async (t) => {
  const cluster = await startCluster(t)
  const { gateways, tokenA, tokenB, issuer } = await setup(t, {
    policies: [{ ...POLICY, limit: 3, windowSec: 3600 }, { name: 'per-user', key: 'principal', limit: 2, windowSec: 3600 }]
  }, { redisConfig: { cluster: { nodes: cluster.nodes.slice(0, 1) } } })
  t.same(statuses(await burst(gateways, 3, tokenA)), { 200: 2, 429: 1 }, 'one user: the per-user policy refuses the third')
  const colleague = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Employee'] } })
  t.same(statuses(await burst(gateways, 2, colleague)), { 200: 1, 429: 1 }, 'a colleague: the bank\'s third request is the last')
  // At once, so one turn's counts span three slots: each slot gets its own script call.
  const [north, south] = await Promise.all([burst(gateways, 3, tokenB, '2001'), burst(gateways, 3, tokenB, '2002'), burst(gateways, 2, tokenA)])
  t.same(statuses(north!), { 200: 2, 429: 1 }, 'bank 2001 counts apart')
  t.same(statuses(south!), { 200: 2, 429: 1 }, 'bank 2002 counts apart')
  for (const gateway of gateways) t.equal(await metric(gateway, /^bookme_gateway_rate_limit_fallback_total /), 0, 'every count was shared: no CROSSSLOT refusal sent a pod alone')
  const slots = new Set(['1001', '2001', '2002'].map((bank) => redisCliCluster(cluster.nodes[0]!, 'CLUSTER', 'KEYSLOT', `bookme:gw:rl:{${bank}}:x`).trim()))
  t.equal(slots.size, 3, 'three banks, three slots: spread over the cluster')
})

function redisCliCluster (node: string, ...args: string[]): string {
  return redisCli(Number(node.slice(node.lastIndexOf(':') + 1)), ...args)
}

function redisCli (port: number, ...args: string[]): string {
  return spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout
}
