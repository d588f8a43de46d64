import t from 'tap'
import { createBlockList } from '../../src/blocks/block-list.js'
import { blockField, decodeBlock, decodeChangeMessage, decodeLifted, encodeBlock, encodeChangeMessage, encodeLifted, liftedField, type Block } from '../../src/blocks/block-records.js'
import { isGatewayError } from '../../src/errors.js'

const TENANT = '11111111-1111-4111-8111-111111111111'
const CLIENT = '44444444-4444-4444-8444-444444444444'
const USER = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee'

function block (kind: Block['kind'], id: string, until: number, reason = ''): Block {
  return { kind, id, until, reason, since: 1, by: '' }
}

t.test('records: field and value round-trip; a damaged value keeps its block without expiry; an unknown kind is no block', async (t) => {
  const b = block('client', CLIENT, 5000, 'leaked')
  t.same(decodeBlock(blockField('client', CLIENT.toUpperCase()), encodeBlock(b)), b)
  t.same(decodeBlock(`tenant:${TENANT}`, 'not json'), { kind: 'tenant', id: TENANT, until: Infinity, reason: '(unreadable record)', since: 0, by: '' })
  t.same(decodeBlock(`tenant:${TENANT}`, '{"reason": 3}')?.until, Infinity)
  t.equal(decodeBlock(`bank:${TENANT}`, encodeBlock(b)), undefined)
  t.equal(decodeBlock('tenant:', encodeBlock(b)), undefined)
  t.equal(decodeBlock('tenant', encodeBlock(b)), undefined)
})

t.test('find and refuse: tenant, client or user (oid in any case); expired blocks are dropped and reported', async (t) => {
  let now = 1000
  const refused: string[] = []
  const expired: string[] = []
  const list = createBlockList({ now: () => now, refused: (b) => refused.push(b.kind), expired: (b) => expired.push(b.id) })
  const principal = { tenantId: TENANT, clientId: CLIENT, objectId: USER.toUpperCase() }
  t.equal(list.find(principal), undefined, 'empty list: nothing')
  list.refuse(principal)
  t.same(list.replace([block('user', USER, 2000, 'phished')]), { added: [block('user', USER, 2000, 'phished')], removed: [], lost: [] })
  t.equal(list.find(principal)?.reason, 'phished', 'the oid compares case-insensitively')
  t.equal(list.find({ ...principal, objectId: undefined }), undefined, 'no oid: no user block applies')
  try {
    list.refuse(principal)
    t.fail('refused')
  } catch (err) {
    t.ok(isGatewayError(err) && err.code === 'PRINCIPAL_BLOCKED' && err.statusCode === 403)
    t.notMatch((err as Error).message, /phished/, 'the reason is for operators, not echoed to the caller')
  }
  t.same(refused, ['user'])
  now = 2000
  t.equal(list.find(principal), undefined, 'expired at its instant')
  t.same(expired, [USER])
  t.equal(list.size, 0)

  list.replace([block('tenant', TENANT, 9000), block('client', CLIENT, 9000)])
  t.equal(list.find(principal)?.kind, 'tenant', 'the tenant block is found first')
  t.equal(list.find({ ...principal, tenantId: 'other' })?.kind, 'client')
  t.same(list.replace([block('client', CLIENT, 9000)], new Map([[blockField('tenant', TENANT), 1]])).removed.map((b) => b.kind), ['tenant'], 'a block gone from the store, a tombstone beside it, is reported removed')
  t.same(list.replace([block('client', CLIENT, 9500)]).added.map((b) => b.until), [9500], 'a changed expiry is reported as new')
  t.same(list.list().map((b) => b.kind), ['client'])
})

t.test('replace: a record past its expiry is no block, and a known block that reached its expiry expired, it was not lifted', async (t) => {
  let now = 1000
  const expired: string[] = []
  const list = createBlockList({ now: () => now, expired: (b) => expired.push(b.id) })
  t.same(list.replace([block('tenant', TENANT, 500)]), { added: [], removed: [], lost: [] }, 'the store still holds an expired record: nothing is added')
  t.equal(list.size, 0)
  list.replace([block('tenant', TENANT, 2000), block('user', USER, 3000)])
  now = 2500
  // Read again before any request looked at the tenant block: it went by its expiry.
  t.same(list.replace([block('tenant', TENANT, 2000)], new Map([[blockField('user', USER), 1]])), { added: [], removed: [block('user', USER, 3000)], lost: [] }, 'only the user block was lifted')
  t.same(expired, [TENANT], 'the tenant block is reported expired')
  t.equal(list.find({ tenantId: TENANT, clientId: undefined, objectId: USER }), undefined)
  t.same(list.replace([block('tenant', TENANT, 2000)]), { added: [], removed: [], lost: [] }, 'read once more: the expired record is not announced again')
  t.same(expired, [TENANT], 'nor reported expired twice')
})

t.test('a known block gone from the store without a tombstone is lost: kept in force until its expiry, reported once', async (t) => {
  let now = 1000
  const expired: string[] = []
  const list = createBlockList({ now: () => now, expired: (b) => expired.push(b.id) })
  const user = { tenantId: TENANT, clientId: undefined, objectId: USER }
  const b = { ...block('user', USER, 5000, 'phished'), since: 900 }
  list.replace([b])
  t.same(list.replace([]), { added: [], removed: [], lost: [b] }, 'the store lost it (a flush): reported lost, not lifted')
  t.equal(list.find(user), b, 'still refused')
  t.same(list.lost(), [b])
  t.same(list.replace([]).lost, [], 'read again: not reported twice')
  t.same(list.replace([], new Map([[blockField('user', USER), 899]])).removed, [], 'a tombstone older than the block lifts nothing')
  t.equal(list.find(user), b)
  t.same(list.replace([b]), { added: [], removed: [], lost: [] }, 'written back: the same block, nothing announced')
  t.same(list.lost(), [])
  t.same(list.replace([]).lost, [b], 'lost a second time: reported again')
  t.same(list.replace([], new Map([[blockField('user', USER), 900]])), { added: [], removed: [b], lost: [] }, 'a tombstone for it (as new as the block) lifts it')
  t.equal(list.find(user), undefined)

  list.replace([{ ...b, until: 6000 }])
  list.replace([])
  now = 6000
  t.same(list.replace([]), { added: [], removed: [], lost: [] }, 'a lost block reaching its expiry expires')
  t.same(expired, [USER])
  t.same(list.lost(), [])
})

t.test('records carry who and when; tombstones and change messages round-trip; stored text is made printable', async (t) => {
  const b: Block = { kind: 'tenant', id: TENANT, until: 9000, reason: 'incident 4711', since: 1000, by: 'alice@ops-1' }
  t.same(decodeBlock(blockField('tenant', TENANT), encodeBlock(b)), b)
  const lifted = { kind: 'tenant' as const, id: TENANT, since: 1000, until: 9000, by: 'bob@ops-2', reason: 'INC-4711 closed', at: 2000 }
  const records = { [blockField('client', CLIENT)]: encodeBlock({ ...b, kind: 'client', id: CLIENT }), [liftedField('tenant', TENANT)]: encodeLifted(lifted), [liftedField('user', USER)]: 'damaged' }
  t.same(decodeLifted(records), [lifted], 'a damaged tombstone lifts nothing')
  t.equal(decodeBlock(liftedField('tenant', TENANT), encodeLifted(lifted)), undefined, 'a tombstone is no block (an earlier gateway skips it)')
  t.same(decodeChangeMessage(encodeChangeMessage([lifted])), [{ field: blockField('tenant', TENANT), since: 1000, until: 9000, by: 'bob@ops-2', reason: 'INC-4711 closed' }], 'the message says who lifted it and why')
  t.same(decodeLifted({ [liftedField('tenant', TENANT)]: JSON.stringify({ since: 1000, until: 9000, by: 'bob@ops-2', at: 2000 }) }), [{ ...lifted, reason: '' }], 'a tombstone of an earlier release: no reason')
  t.same(decodeChangeMessage(JSON.stringify({ lifted: [{ field: blockField('tenant', TENANT), since: 1000, until: 9000 }] })), [{ field: blockField('tenant', TENANT), since: 1000, until: 9000, by: '', reason: '' }], 'a message of an earlier release: no by, no reason')
  t.match(decodeChangeMessage(JSON.stringify({ lifted: [{ field: blockField('tenant', TENANT), since: 1, until: 2, by: 'm\u202e', reason: 'r\u2028s' }] }))[0], { by: 'm\\u{202e}', reason: 'r\\u{2028}s' }, 'made printable')
  t.equal(encodeChangeMessage([]), 'changed')
  t.same(decodeChangeMessage('changed'), [])
  t.same(decodeChangeMessage('{"lifted": [{"field": "bank:1", "since": 1, "until": 2}, 3]}'), [])
  const written = decodeBlock(blockField('user', USER), JSON.stringify({ until: 9000, reason: 'a\u202eb\u2028c\u009bd', since: 1, by: 'x\u0000y' }))
  t.equal(written?.reason, 'a\\u{202e}b\\u{2028}c\\u{9b}d', 'format, separator and C1 control characters written by hand are shown escaped')
  t.equal(written?.by, 'x\\u{0}y')
})
