/** The mappings capability's public surface: what other capabilities may import. */
export type { ClientMapping, TenantMapping } from './source.js'
