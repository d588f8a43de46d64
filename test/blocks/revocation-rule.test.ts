import t from 'tap'
import { createBlockList } from '../../src/blocks/block-list.js'
import { blockField, decodeBlock, encodeBlock, type Block } from '../../src/blocks/block-records.js'
import { isGatewayError } from '../../src/errors.js'
import { createWebSocketSessions, type SessionEnd } from '../../src/proxy/websocket-sessions.js'

// The revocation rule (CONTRACT.md §15) in the gateway's block list: `block --issued-before`.

const TENANT = '11111111-1111-4111-8111-111111111111'
const CLIENT = '44444444-4444-4444-8444-444444444444'
const USER = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee'
const OTHER_USER = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'
const T = Date.parse('2026-12-06T09:30:00Z')

function block (kind: Block['kind'], id: string, issuedBefore?: number): Block {
  return { kind, id, until: T + 86_400_000, reason: '', since: T, by: 'ops@host', ...(issuedBefore === undefined ? {} : { issuedBefore }) }
}

const principal = (issuedAt: number | undefined) => ({ tenantId: TENANT, clientId: CLIENT, objectId: USER, issuedAt })

function refusal (list: ReturnType<typeof createBlockList>, issuedAt: number | undefined): { code: string, status: number, detail: string } | undefined {
  try {
    list.refuse(principal(issuedAt))
    return undefined
  } catch (err) {
    if (!isGatewayError(err)) throw err
    return { code: err.code, status: err.statusCode, detail: err.detail }
  }
}

t.test('records: the instant round-trips; an old record, or an instant that is no number, is a full block', async (t) => {
  const revocation = block('user', USER, T)
  t.same(decodeBlock(blockField('user', USER), encodeBlock(revocation)), revocation)
  t.same(JSON.parse(encodeBlock(revocation)), { until: revocation.until, reason: '', since: T, by: 'ops@host', issuedBefore: T })
  t.notOk('issuedBefore' in JSON.parse(encodeBlock(block('user', USER))), 'a full block is written as before')
  t.notOk('issuedBefore' in decodeBlock(blockField('user', USER), '{"until": 9e15, "since": 1, "issuedBefore": "2026-12-06"}')!, 'an unreadable instant refuses every token')
})

t.test('a revocation refuses tokens issued before its instant with 401 TOKEN_REVOKED naming it; at or after it they pass', async (t) => {
  const refused: string[] = []
  const list = createBlockList({ now: () => T, refused: (b) => refused.push(b.kind) })
  list.replace([block('user', USER, T)])
  t.match(refusal(list, T - 1000), { code: 'TOKEN_REVOKED', status: 401, detail: 'Tokens of this user issued before 2026-12-06T09:30:00.000Z are revoked by the operators of this service; get a new token' })
  t.equal(refusal(list, T), undefined, 'issued at the instant: passes')
  t.equal(refusal(list, T + 1000), undefined, 'issued after: passes')
  t.match(refusal(list, undefined), { code: 'TOKEN_REVOKED' }, 'a token without iat cannot show it is newer')
  t.equal(list.find({ ...principal(T - 1000), objectId: OTHER_USER }), undefined, 'another user passes')
  t.same(refused, ['user', 'user'], 'counted as a refusal of its kind')
})

t.test('a full block wins over any revocation; of several revocations the latest instant applies', async (t) => {
  const list = createBlockList({ now: () => T })
  list.replace([block('user', USER, T), block('tenant', TENANT)])
  t.match(refusal(list, T + 60_000), { code: 'PRINCIPAL_BLOCKED', status: 403 }, 'a tenant block refuses the newer token too')
  list.replace([block('tenant', TENANT, T - 60_000), block('client', CLIENT, T), block('user', USER, T - 120_000)])
  t.match(refusal(list, T - 30_000), { code: 'TOKEN_REVOKED', detail: /of this client application issued before 2026-12-06T09:30:00\.000Z/ })
  t.equal(refusal(list, T), undefined)
  const replaced = list.replace([block('tenant', TENANT, T - 60_000), block('client', CLIENT, T + 60_000), block('user', USER, T - 120_000)])
  t.same(replaced.added.map((b) => b.kind), ['client'], 'a new instant is a change: open sessions are judged again')
})

t.test('open sessions: a revocation ends only those of older tokens, with "token revoked"; a full block ends all', async (t) => {
  const list = createBlockList({ now: () => T })
  const sessions = createWebSocketSessions({ blockOf: (p) => list.find(p), now: () => T })
  const ends: Array<[string, SessionEnd]> = []
  const track = (name: string, issuedAt: number) => sessions.track({ ...principal(issuedAt), expiresAt: T + 3_600_000 }, (why) => { ends.push([name, why]) })
  const untrack = [track('old', T - 1000), track('new', T + 1000)]
  t.teardown(() => { for (const stop of untrack) stop() })
  const revocation = list.replace([block('user', USER, T)]).added
  sessions.endCovered(revocation)
  t.same(ends, [['old', 'token_revoked']])
  sessions.endCovered(list.replace([block('user', USER)]).added)
  t.same(ends, [['old', 'token_revoked'], ['new', 'principal_blocked']])
  t.equal(sessions.size, 0)
})
