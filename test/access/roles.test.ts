import t from 'tap'
import { createClaimMapper, checkRoles, expandRoles, readClaim } from '../../src/access/roles.js'
import { isGatewayError } from '../../src/errors.js'

const codeOf = (fn: () => unknown): string | undefined => {
  try { fn(); return undefined } catch (err) { return isGatewayError(err) ? `${err.code}: ${err.detail}` : String(err) }
}
const defaults = createClaimMapper({ roles: [{ attribute: 'roles', value: '*' }], teams: [], businessUnits: [] })

t.test('default mapping passes platform roles through, canonical, ASCII case-insensitive only', async (t) => {
  t.same(defaults({ roles: ['employee', 'MANAGER', 'unknown-role'] }).roles, ['Manager', 'Employee'])
  t.same(defaults({ roles: 'creditevaluator' }).roles, ['CreditEvaluator'], 'a string claim')
  t.equal(codeOf(() => defaults({ roles: ['Admın'] })), 'NO_ROLE: No platform role maps from the token\'s claims', 'dotless ı is not i')
  t.equal(codeOf(() => defaults({ roles: ['ADMİN'] })), 'NO_ROLE: No platform role maps from the token\'s claims', 'dotted İ is not I')
  t.equal(codeOf(() => defaults({ roles: ['Admin\u200b'] })), 'NO_ROLE: No platform role maps from the token\'s claims', 'zero-width space')
  t.equal(codeOf(() => defaults({ scp: 'x' })), 'ROLE_CLAIM_MISSING: Claim "roles" is not present in the token')
  t.equal(codeOf(() => defaults({ roles: [] })), 'NO_ROLE: No platform role maps from the token\'s claims', 'present but empty')
})

t.test('rules over any claim by dotted path; string, array and object claims; all matching rules apply', async (t) => {
  const mapper = createClaimMapper({
    roles: [
      { attribute: 'groups', value: '5F1C0000-AAAA', name: 'Manager' },
      { attribute: 'realm.roles', value: 'ops', name: 'Configurator' },
      { attribute: 'flags', value: 'auditor', name: 'CreditEvaluator' },
      { attribute: 'roles', value: '*' }
    ],
    teams: [{ attribute: 'department', value: '*' }, { attribute: 'groups', value: 'team-a', name: 'Alpha' }],
    businessUnits: [{ attribute: 'extension_bu', value: 'retail', name: 'Retail' }, { attribute: 'extension_bu', value: 'RETAIL', name: 'Retail' }]
  })
  const mapped = mapper({ groups: ['5f1c0000-aaaa', 'team-a'], realm: { roles: ['OPS'] }, flags: { auditor: true }, roles: ['Customer'], department: 'Lending', extension_bu: 'Retail' })
  t.same(mapped.roles, ['Configurator', 'Manager', 'Customer', 'CreditEvaluator'], 'every matching rule applies')
  t.same(mapped.effectiveRoles, ['Configurator', 'Manager', 'Employee', 'Customer', 'CreditEvaluator'])
  t.same(mapped.teams, ['Lending', 'Alpha'])
  t.same(mapped.businessUnits, ['Retail'], 'deduplicated')
  t.equal(codeOf(() => mapper({ other: 1 })), 'ROLE_CLAIM_MISSING: Claim "groups" is not present in the token', 'names the first rule\'s claim')
  t.same(readClaim({ a: { b: 7 } }, 'a.b'), ['7'])
  t.equal(readClaim({ a: 'x' }, 'a.b'), undefined)
  t.equal(readClaim({ ['__proto__']: 1 } as Record<string, unknown>, 'constructor'), undefined, 'no prototype lookups')
})

t.test('hierarchy and route / profile checks', async (t) => {
  t.same(expandRoles(['Admin']), ['Admin', 'Configurator', 'Manager', 'Employee'])
  t.same(expandRoles(['System', 'Employee']), ['Employee', 'System'])
  t.equal(codeOf(() => checkRoles(expandRoles(['Admin']), ['Manager'], [])), undefined, 'Admin passes a Manager route')
  t.equal(codeOf(() => checkRoles(expandRoles(['Employee']), ['Manager'], [])), 'ROLE_REQUIRED: This route needs one of the roles: Manager')
  t.equal(codeOf(() => checkRoles(expandRoles(['Customer']), ['Employee', 'Customer'], [])), undefined, 'any of')
  t.equal(codeOf(() => checkRoles(expandRoles(['Admin']), [], ['System'])), 'ROLE_REQUIRED: This API needs the role: System', 'Admin is not System')
})

t.test('identical outcomes are one frozen object; different ones stay apart; past the sharing bound they are still right', async (t) => {
  const map = createClaimMapper({ roles: [{ attribute: 'roles', value: '*' }], teams: [{ attribute: 'groups', value: '*' }], businessUnits: [] })
  const a = map({ roles: ['Manager'], groups: ['g1'], oid: 'one' })
  const b = map({ roles: ['manager'], groups: ['g1'], oid: 'two' })
  t.equal(a, b, 'two users with the same roles and teams share one outcome')
  t.ok(Object.isFrozen(a) && Object.isFrozen(a.effectiveRoles) && Object.isFrozen(a.teams), 'which nobody can change for the other')
  const c = map({ roles: ['Manager'], groups: ['g2'] })
  t.not(c, a)
  t.same(c.teams, ['g2'])
  t.same(a.teams, ['g1'], 'the first outcome is untouched')
  for (let i = 0; i < 5000; i++) map({ roles: ['Employee'], groups: [`team-${i}`] })
  const late = map({ roles: ['Admin'], groups: ['late'] })
  t.same(late, { roles: ['Admin'], effectiveRoles: ['Admin', 'Configurator', 'Manager', 'Employee'], teams: ['late'], businessUnits: [] }, 'an outcome past the bound is computed as ever')
})

t.test('scp is a list of its space-separated words; no other string claim is split', async (t) => {
  const mapper = createClaimMapper({
    roles: [{ attribute: 'scp', value: 'Bookings.Write', name: 'Manager' }, { attribute: 'roles', value: '*' }],
    teams: [{ attribute: 'scp', value: 'Teams.North', name: 'north' }, { attribute: 'department', value: 'Retail', name: 'retail' }],
    businessUnits: [{ attribute: 'scp', value: '*' }]
  })
  const mapped = mapper({ scp: 'User.Read  Bookings.Write Teams.North', roles: ['Employee'], department: 'Retail Banking' })
  t.same(mapped.roles, ['Manager', 'Employee'], 'a scope word grants a role')
  t.same(mapped.teams, ['north'], 'a scope word names a team; "Retail Banking" is not split into "Retail"')
  t.same(mapped.businessUnits, ['User.Read', 'Bookings.Write', 'Teams.North'], 'a wildcard passes each word through')
  t.same(readClaim({ scp: 'a b' }, 'scp'), ['a', 'b'])
  t.same(readClaim({ name: 'a b' }, 'name'), ['a b'])
  t.same(readClaim({ ext: { scp: 'a b' } }, 'ext.scp'), ['a b'], 'only the top-level scp claim')
})
