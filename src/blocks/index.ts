/** The blocks capability's public surface: what other capabilities may import. */
export type { BlockedPrincipal } from './block-list.js'
export { blockField } from './block-records.js'
export type { Block } from './block-records.js'
