/** The token capability's public surface: what other capabilities may import. */
export { peekAudience } from './entra-token.js'
export { tokenMemo } from './verified-token.js'
export type { Claims, VerifiedToken } from './verified-token.js'
