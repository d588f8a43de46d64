import t from 'tap'
import { tokenMemo, VerifiedEntraToken } from '../../src/token/verified-token.js'

const claims = { tid: 't', oid: 'o-1', scp: 'read write', preferred_username: 'zoe@bank.example', upn: 'u@bank.example', roles: ['Manager'] }
const text = `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`
const facts = { tenantId: 't', version: 2 as const, principalType: 'user' as const, clientId: 'c', expiresAt: 1 }

t.test('the facts later steps read are taken from the claims once, at construction', async (t) => {
  const user = new VerifiedEntraToken(text, claims, facts)
  t.equal(user.objectId, 'o-1')
  t.equal(user.scopes, 'read write')
  t.equal(user.userName, 'zoe@bank.example', 'preferred_username before upn')
  const app = new VerifiedEntraToken(text, claims, { ...facts, principalType: 'app' })
  t.equal(app.userName, undefined, 'an app has no user name, whatever its claims say')
  const bare = new VerifiedEntraToken('e30.e30.', {}, facts)
  t.same([bare.objectId, bare.scopes, bare.userName], [undefined, undefined, undefined])
  t.equal(new VerifiedEntraToken(text, { ...claims, oid: '' }, facts).objectId, undefined, 'an empty claim is no claim')
})

t.test('a memo computes once per slot; afterwards the claims are decoded again from the verified text, equal', async (t) => {
  const parsed = structuredClone(claims)
  const token = new VerifiedEntraToken(text, parsed, facts)
  let computed = 0
  const ROLES = tokenMemo<{ roles: unknown }>('roles')
  const roles = (): unknown => token.memo(ROLES, (c) => { computed++; return { roles: c.roles } })
  const first = roles()
  t.equal(roles(), first, 'the same derived value')
  t.equal(computed, 1)
  t.not(token.claims, parsed, 'the parsed copy was let go once something was derived')
  t.same(token.claims, claims, 'and the claims decoded again are the verified ones')
  t.equal(token.claims, token.claims, 'decoded once, then kept until the next derivation')
  t.equal(token.memo(tokenMemo<number>('roles'), () => 2), 2, 'another slot computes its own, whatever its name')
})
