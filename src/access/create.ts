/**
 * The access decision as the configuration asks for it (CONTRACT.md §3–§6, §12, §13): the
 * claim mapper built from the role, team and business-unit rules, over the token verifier,
 * the blocks, the mappings, groups overage and the rate limits it is handed.
 */
import type { Config } from '../config/schema.js'
import { createClaimMapper } from './roles.js'
import { createDecider, type Decider, type DeciderOptions } from './decision.js'

export type AccessParts = Pick<DeciderOptions, 'verify' | 'profileForAudience' | 'blocks' | 'lookups' | 'overageGroups' | 'rateLimits'>

export function createAccess (config: Readonly<Config>, parts: AccessParts): Decider {
  return createDecider({
    ...parts,
    profiles: config.apis,
    mapClaims: createClaimMapper({
      roles: config.roles.mappings.map((r) => ({ attribute: r.attribute, value: r.value, name: r.role })),
      teams: config.teams.map((r) => ({ attribute: r.attribute, value: r.value, name: r.team })),
      businessUnits: config.businessUnits.map((r) => ({ attribute: r.attribute, value: r.value, name: r.businessUnit }))
    }),
    headerPrefix: config.headers.prefix,
    authority: config.entra.authority
  })
}
