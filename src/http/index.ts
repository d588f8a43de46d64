/** The http capability's public surface: what other capabilities may import. */
export { continueIfExpected } from './expect-continue.js'
export { PROXIED_METHODS } from './methods.js'
export { isPlainPrefix, pathOf, querySuffix, rewriteLocationPrefix, upstreamPath } from './paths.js'
export type { GatewayHeaders } from './response-headers.js'
export { routePatterns } from './route-match.js'
export { varyWith } from './vary.js'
export { certificateFromPem, type ClientCertificate } from './client-certificate.js'
