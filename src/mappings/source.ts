/**
 * Where banks come from (CONTRACT.md §4): MySQL `bp_organizations_db` or a file of the same
 * shape. A source answers one tenant or one client at a time; `null` means "not mapped".
 * GUIDs are compared in lower case everywhere.
 */
export interface TenantBank {
  bankId: string
  enabled: boolean
  isDefault: boolean
}

export interface TenantMapping {
  tenantId: string
  banks: readonly TenantBank[]
}

export interface ClientMapping {
  clientId: string
  bankId: string
  enabled: boolean
  bankEnabled: boolean
}

export interface ClientListing extends ClientMapping {
  bankName: string | null
  description: string | null
  /** ISO date-time, or null when unknown. */
  secretExpiresAt: string | null
}

export interface MappingSource {
  readonly kind: 'file' | 'mysql'
  tenant (tenantId: string): Promise<TenantMapping | null>
  client (clientId: string): Promise<ClientMapping | null>
  clients (): Promise<ClientListing[]>
  /** Resolves when the source answers at all (readiness, `check`), to what answered: `mysql host:port/db, TLS verified (TLSv1.3)`. */
  ping (): Promise<string>
  close (): Promise<void>
}
