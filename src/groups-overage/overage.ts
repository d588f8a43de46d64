/**
 * Groups overage (CONTRACT.md §13, ENTRA.md "Groups overage claim"): a user in more groups than
 * fit in a token (200 in a JWT) gets no `groups` claim but `_claim_names.groups` (v1 implicit
 * flow: `hasgroups: true`). Every rule reading `groups` would silently match nothing, so such a
 * token is refused (`deny`) or its memberships are asked of Microsoft Graph (`graph`) — never
 * of the `_claim_sources` endpoint the token names: a URL from the token is not ours to call.
 */
import { GatewayError } from '../errors.js'
import type { MaybePromise } from '../maybe-promise.js'
import { asciiLower, type Rule } from '../access/index.js'
import { tokenMemo, type VerifiedToken } from '../token/index.js'

const GROUPS_CLAIM = 'groups'

const OVERAGE = tokenMemo<boolean>('groupsOverage')

function isGroupsOverage (claims: Readonly<Record<string, unknown>>): boolean {
  const names = claims._claim_names
  if (names !== null && typeof names === 'object' && !Array.isArray(names) && Object.hasOwn(names, GROUPS_CLAIM)) return true
  return claims.hasgroups === true || claims.hasgroups === 'true'
}

/** Whether any rule reads `groups`, and which group ids the rules name (lower case, once each). */
export function groupRulesOf (rules: Iterable<Rule>): { readsGroups: boolean, groupIds: string[] } {
  let readsGroups = false
  const ids = new Set<string>()
  for (const rule of rules) {
    if (rule.attribute !== GROUPS_CLAIM) continue
    readsGroups = true
    if (rule.value !== '*') ids.add(asciiLower(rule.value))
  }
  return { readsGroups, groupIds: [...ids] }
}

const OVERAGE_FIX = 'The user is in more groups than Entra puts in a token (groups overage), so the token carries none. ' +
  'In Entra, set the app registration\'s groupMembershipClaims to ApplicationGroup and assign the groups the rules name to the app, or map app roles instead'

export interface GroupsOverageOptions {
  mode: 'deny' | 'graph'
  /** Graph mode: the ids among the rules' group ids that the user is a member of. */
  memberGroups?: (tenantId: string, objectId: string) => MaybePromise<readonly string[]>
}

/**
 * What the role mapping reads as `groups` for this token: undefined when the token carries its
 * groups itself; GROUPS_OVERAGE under `deny`; Graph's answer under `graph`.
 */
export function createOverageResolver ({ mode, memberGroups }: GroupsOverageOptions): (token: VerifiedToken) => MaybePromise<readonly string[]> | undefined {
  return function groupsOf (token) {
    if (!token.memo(OVERAGE, isGroupsOverage)) return undefined
    if (mode === 'deny' || memberGroups === undefined) throw new GatewayError('GROUPS_OVERAGE', OVERAGE_FIX)
    if (token.objectId === undefined) throw new GatewayError('GROUPS_OVERAGE', `${OVERAGE_FIX} (the token has no oid to ask Microsoft Graph about)`)
    return memberGroups(token.tenantId, token.objectId)
  }
}
