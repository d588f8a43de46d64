import t from 'tap'
import { parseList } from 'structured-headers'
import { compilePolicies, share, type RateLimitSettings } from '../../src/rate-limits/policies.js'

const settings = (extra: Partial<RateLimitSettings> = {}): RateLimitSettings => ({
  policies: [
    { name: 'bank-api', routes: ['meetings'], key: 'bank', limit: 600, windowSec: 60, burst: 100 },
    { name: 'per-client', key: 'client', limit: 50, windowSec: 1 },
    { name: 'per-user', key: 'principal', limit: 10, windowSec: 60 }
  ],
  overrides: { 1001: { 'bank-api': { limit: 1200 }, 'per-user': { limit: 20, burst: 3 } } },
  headers: true,
  replicas: 3,
  ...extra
})
const principal = { bankId: '1001', tenantId: 'tid', clientId: 'cid', objectId: 'oid' }

t.test('policies cover their routes, or every authenticated route', async (t) => {
  const plan = compilePolicies(settings(), ['meetings', 'system'])
  t.same(plan.forRoute('meetings')?.policies.map((p) => p.name), ['bank-api', 'per-client', 'per-user'])
  t.same(plan.forRoute('system')?.policies.map((p) => p.name), ['per-client', 'per-user'])
  t.equal(plan.forRoute('open'), undefined, 'a route not given (auth: none) has none')
  t.equal(compilePolicies(settings({ policies: [] }), ['meetings']).forRoute('meetings'), undefined)
})

t.test('keys: one hash tag per bank, the partition after it', async (t) => {
  const count = compilePolicies(settings(), ['meetings']).forRoute('meetings')!.count(principal)
  t.same(count.keys, ['rl:{1001}:bank-api', 'rl:{1001}:per-client:c:cid', 'rl:{1001}:per-user:p:tid:oid'])
  const anonymous = compilePolicies(settings(), ['meetings']).forRoute('meetings')!.count({ ...principal, objectId: undefined, clientId: undefined })
  t.same(anonymous.keys.slice(1), ['rl:{1001}:per-client:c:?tid', 'rl:{1001}:per-user:p:tid:?'], 'a missing claim is one shared partition, never none')
})

t.test('overrides: per bank; the burst follows the limit in proportion unless set', async (t) => {
  const route = compilePolicies(settings(), ['meetings']).forRoute('meetings')!
  const mine = route.describe(principal)
  t.match(mine[0], { policy: 'bank-api', limit: 1200, burst: 200, override: true })
  t.match(mine[2], { policy: 'per-user', limit: 20, burst: 3, override: true })
  t.match(route.describe({ ...principal, bankId: '2001' })[0], { limit: 600, burst: 100, override: false })
  t.match(mine[1], { policy: 'per-client', limit: 50, burst: 50, override: false }, 'burst defaults to the limit')
})

t.test('while alone each pod allows its share, rounded up, at least 1', async (t) => {
  t.equal(share(600, 3), 200)
  t.equal(share(100, 3), 34)
  t.equal(share(1, 3), 1)
  const count = compilePolicies(settings(), ['meetings']).forRoute('meetings')!.count({ ...principal, bankId: '2001' })
  t.same(count.fallbackRules[0], { intervalUs: 300_000, capacityUs: 300_000 * 34 }, '600 / 3 a minute, 100 / 3 at once')
})

t.test('the answer fields are RFC 9651 lists; Retry-After is the longest refusing wait in whole seconds', async (t) => {
  const route = compilePolicies(settings(), ['meetings']).forRoute('meetings')!
  const count = route.count(principal)
  const verdict = route.verdict(count, { admitted: false, remaining: [5, 0, 0], waitUs: [0, 20_000, 2_500_000] })
  t.equal(verdict.admitted, false)
  t.same(verdict.refusedBy, ['per-client', 'per-user'])
  t.equal(verdict.headers['retry-after'], '3')
  t.same(parseList(verdict.headers['ratelimit-policy']!).map(([name, params]) => [name, Object.fromEntries(params)]),
    [['bank-api', { q: 1200, w: 60 }], ['per-client', { q: 50, w: 1 }], ['per-user', { q: 20, w: 60 }]])
  t.same(parseList(verdict.headers.ratelimit!).map(([name, params]) => [name, Object.fromEntries(params)]),
    [['bank-api', { r: 5, t: 0 }], ['per-client', { r: 0, t: 1 }], ['per-user', { r: 0, t: 3 }]])
  t.same(route.baseHeaders, { 'ratelimit-policy': '"bank-api";q=600;w=60, "per-client";q=50;w=1, "per-user";q=10;w=60' })
  const quiet = compilePolicies(settings({ headers: false }), ['meetings']).forRoute('meetings')!
  t.same(quiet.verdict(count, { admitted: false, remaining: [0, 1, 1], waitUs: [1, 0, 0] }).headers, { 'retry-after': '1' }, 'at least 1 s; no fields with headers: false')
  t.equal(quiet.baseHeaders, undefined)
})
