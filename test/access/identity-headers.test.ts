import t from 'tap'
import { buildIdentityHeaders, encodeHeaderValue } from '../../src/access/identity-headers.js'
import { isGatewayError } from '../../src/errors.js'
import { VerifiedEntraToken, type VerifiedToken } from '../../src/token/verified-token.js'
import type { MappedIdentity } from '../../src/access/roles.js'

const token = (claims: Record<string, unknown>, principalType: 'user' | 'app' = 'user'): VerifiedToken =>
  new VerifiedEntraToken(unsignedText(claims), claims, { tenantId: 'aaaaaaaa-0000-0000-0000-000000000000', version: 2, principalType, clientId: 'cccccccc-0000-0000-0000-000000000000', expiresAt: 0 })
const unsignedText = (claims: Record<string, unknown>): string => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`
const mapped: MappedIdentity = { roles: [], effectiveRoles: ['Manager', 'Employee'], teams: [], businessUnits: [] }

t.test('values are encoded so no claim can split or add a header (CVE-2023-27493 class)', async (t) => {
  t.equal(encodeHeaderValue('José Ñ'), 'Jos%C3%A9 %C3%91', 'non-ASCII is percent-encoded UTF-8')
  t.equal(encodeHeaderValue('100%'), '100%25', '% itself is encoded, so decoding is exact')
  t.equal(encodeHeaderValue('a,b', { list: true }), 'a%2Cb', 'a comma inside a list item')
  for (const evil of ['x\r\nx-bookme-roles: Admin', 'x\nX', 'x\u0000', 'x\u007f']) {
    let code: string | undefined
    try { encodeHeaderValue(evil) } catch (err) { code = isGatewayError(err) ? err.code : String(err) }
    t.equal(code, 'TOKEN_MALFORMED', JSON.stringify(evil))
  }
})

t.test('the §6 table: names, lists without spaces, omitted when empty, users only for user-name', async (t) => {
  const headers = buildIdentityHeaders('X-BookMe-', {
    api: 'management',
    token: token({ oid: 'o1', preferred_username: 'p@x', upn: 'u@x', scp: 'a b' }),
    bank: { activeBankId: '2', bankIds: ['1', '2'] },
    mapped: { ...mapped, effectiveRoles: ['Manager', 'Employee'], teams: ['T1', 'T 2'], businessUnits: [] }
  })
  t.same(headers, {
    'x-bookme-bank-id': '2',
    'x-bookme-bank-ids': '1,2',
    'x-bookme-tenant-id': 'aaaaaaaa-0000-0000-0000-000000000000',
    'x-bookme-principal-type': 'user',
    'x-bookme-principal-id': 'o1',
    'x-bookme-client-id': 'cccccccc-0000-0000-0000-000000000000',
    'x-bookme-user-name': 'p@x',
    'x-bookme-roles': 'Manager,Employee',
    'x-bookme-scopes': 'a b',
    'x-bookme-teams': 'T1,T 2',
    'x-bookme-api': 'management'
  })
  const app = buildIdentityHeaders('x-bookme-', { api: 's', token: token({ oid: 'o', upn: 'should-not-appear' }, 'app'), bank: { activeBankId: '1', bankIds: ['1'] }, mapped: { ...mapped, effectiveRoles: ['System'] } })
  t.equal(app['x-bookme-user-name'], undefined, 'apps have no user name')
  t.equal(app['x-bookme-scopes'], undefined, 'no empty header')
  t.equal(buildIdentityHeaders('x-bookme-', { api: 's', token: token({ unique_name: 'v1@x' }), bank: { activeBankId: '1', bankIds: ['1'] }, mapped: { ...mapped } })['x-bookme-user-name'], 'v1@x', 'unique_name as the last resort')
})
