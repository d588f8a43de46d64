/** The assertion capability's public surface: what other capabilities may import. */
export { assertionAudience, assertionHeaderName } from './signer.js'
export type { AssertionSigner } from './signer.js'
