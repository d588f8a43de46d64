/**
 * Claims → roles, teams and business units (CONTRACT.md §5). Rules read any claim by dotted
 * path; a claim may be a string, an array (of strings) or an object (its keys, as in
 * `{ "Admin": true }`). Comparison is case-insensitive over ASCII letters only: Unicode case
 * folding would let `Admın` (dotless ı) or a Kelvin-sign `K` pass for a role name.
 */
import { GatewayError } from '../errors.js'
import { PLATFORM_ROLES, type PlatformRole } from '../config/platform-roles.js'

export interface Rule { attribute: string, value: string, name?: string | undefined }

export interface MappedIdentity {
  /** Platform roles the claims grant, canonical spelling. */
  readonly roles: readonly PlatformRole[]
  /** `roles` with the hierarchy expanded (Admin ⊃ Configurator ⊃ Manager ⊃ Employee). */
  readonly effectiveRoles: readonly PlatformRole[]
  readonly teams: readonly string[]
  readonly businessUnits: readonly string[]
}

const HIERARCHY: Record<PlatformRole, PlatformRole[]> = {
  Admin: ['Admin', 'Configurator', 'Manager', 'Employee'],
  Configurator: ['Configurator', 'Manager', 'Employee'],
  Manager: ['Manager', 'Employee'],
  Employee: ['Employee'],
  Customer: ['Customer'],
  CreditEvaluator: ['CreditEvaluator'],
  System: ['System']
}

export function asciiLower (text: string): string {
  // Most values (GUIDs, `c1`, lower-case names) have no capital: returned as they are, with no
  // replace and no new string; a route check calls this on every request.
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code >= 65 && code <= 90) return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32))
  }
  return text
}

const CANONICAL = new Map<string, PlatformRole>(PLATFORM_ROLES.map((role) => [asciiLower(role), role]))

export function expandRoles (roles: Iterable<PlatformRole>): PlatformRole[] {
  const out = new Set<PlatformRole>()
  for (const role of roles) for (const implied of HIERARCHY[role]) out.add(implied)
  return PLATFORM_ROLES.filter((role) => out.has(role))
}

/**
 * The claim at a dotted path as a list of strings, or undefined when it is absent. `scp` is a
 * space-separated list of scopes (RFC 8693 §4.2, ENTRA.md §1): it is its words; no other string
 * claim is split.
 */
export function readClaim (payload: Readonly<Record<string, unknown>>, path: string): string[] | undefined {
  let current: unknown = payload
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current) || !Object.hasOwn(current, part)) return undefined
    current = (current as Record<string, unknown>)[part]
  }
  if (typeof current === 'string') return path === 'scp' ? current.split(' ').filter((word) => word !== '') : [current]
  if (typeof current === 'number' || typeof current === 'boolean') return [String(current)]
  if (Array.isArray(current)) return current.filter((v): v is string | number => typeof v === 'string' || typeof v === 'number').map(String)
  if (current !== null && typeof current === 'object') return Object.keys(current)
  return undefined
}

function applyRules (payload: Readonly<Record<string, unknown>>, rules: readonly Rule[]): { names: string[], anyClaimPresent: boolean } {
  const names: string[] = []
  let anyClaimPresent = false
  for (const rule of rules) {
    const values = readClaim(payload, rule.attribute)
    if (values === undefined) continue
    anyClaimPresent = true
    if (rule.value === '*') names.push(...values)
    else if (rule.name !== undefined && values.some((v) => asciiLower(v) === asciiLower(rule.value))) names.push(rule.name)
  }
  return { names, anyClaimPresent }
}

export interface ClaimMapperRules {
  roles: readonly Rule[]
  teams: readonly Rule[]
  businessUnits: readonly Rule[]
}

/** Distinct outcomes shared per mapper; past this many, new ones are returned unshared. */
const MAX_SHARED_OUTCOMES = 4096

/**
 * Identical outcomes come back as one frozen object: most users of a bank hold one of a few
 * role, team and unit sets, and each cached token memoizes its outcome (the memory budget of 100,000 tenants).
 */
export function createClaimMapper (rules: ClaimMapperRules): (payload: Readonly<Record<string, unknown>>) => MappedIdentity {
  const mapClaims = createUnsharedClaimMapper(rules)
  const shared = new Map<string, MappedIdentity>()
  return function mapClaimsShared (payload) {
    const mapped = mapClaims(payload)
    const key = JSON.stringify([mapped.roles, mapped.teams, mapped.businessUnits]) // effectiveRoles follow from roles
    const known = shared.get(key)
    if (known !== undefined) return known
    const frozen: MappedIdentity = Object.freeze({
      roles: Object.freeze(mapped.roles),
      effectiveRoles: Object.freeze(mapped.effectiveRoles),
      teams: Object.freeze(mapped.teams),
      businessUnits: Object.freeze(mapped.businessUnits)
    })
    if (shared.size < MAX_SHARED_OUTCOMES) shared.set(key, frozen)
    return frozen
  }
}

function createUnsharedClaimMapper (rules: ClaimMapperRules): (payload: Readonly<Record<string, unknown>>) => MappedIdentity {
  return function mapClaims (payload) {
    const roleResult = applyRules(payload, rules.roles)
    if (!roleResult.anyClaimPresent) {
      throw new GatewayError('ROLE_CLAIM_MISSING', `Claim "${rules.roles[0]?.attribute ?? 'roles'}" is not present in the token`)
    }
    const granted = new Set<PlatformRole>()
    for (const name of roleResult.names) {
      const role = CANONICAL.get(asciiLower(name))
      if (role) granted.add(role)
    }
    if (granted.size === 0) throw new GatewayError('NO_ROLE', 'No platform role maps from the token\'s claims')
    const roles = PLATFORM_ROLES.filter((role) => granted.has(role))
    return {
      roles,
      effectiveRoles: expandRoles(roles),
      teams: unique(applyRules(payload, rules.teams).names),
      businessUnits: unique(applyRules(payload, rules.businessUnits).names)
    }
  }
}

function unique (names: string[]): string[] {
  return [...new Set(names.filter((n) => n !== ''))]
}

/** Route roles: any of them (hierarchy applied); profile `requiredRoles`: every one of them. */
export function checkRoles (effective: readonly PlatformRole[], route: readonly PlatformRole[], profile: readonly PlatformRole[]): void {
  if (route.length > 0 && !route.some((role) => effective.includes(role))) {
    throw new GatewayError('ROLE_REQUIRED', `This route needs one of the roles: ${route.join(', ')}`)
  }
  const missing = profile.filter((role) => !effective.includes(role))
  if (missing.length > 0) throw new GatewayError('ROLE_REQUIRED', `This API needs the role${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`)
}
