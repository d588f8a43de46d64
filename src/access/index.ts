/** The access capability's public surface: what other capabilities may import. */
export { bearerTokenOf } from './decision.js'
export type { Decider, Decision, Grant } from './decision.js'
export type { DecisionFacts } from './decision-facts.js'
export { asciiLower } from './roles.js'
export type { Rule } from './roles.js'
