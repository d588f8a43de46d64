/** The file source (`mappings.source: file`), the same shape as the tables of CONTRACT.md §4. */
import { Type, type Static } from '@sinclair/typebox'
import { Ajv } from 'ajv'
import { readYamlFile } from '../config/yaml-file.js'
import { ConfigError, GUID_PATTERN_SCHEMA, formatAjvErrors } from '../config/validation.js'
import type { ClientListing, MappingSource, TenantMapping } from './source.js'

const strict = { additionalProperties: false } as const
const BankId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[^,\\s]+$' })
const MappingsFileSchema = Type.Object({
  banks: Type.Array(Type.Object({ id: BankId, name: Type.String({ minLength: 1 }), enabled: Type.Boolean({ default: true }) }, strict), { default: [] }),
  tenants: Type.Array(Type.Object({
    tenantId: GUID_PATTERN_SCHEMA,
    banks: Type.Array(BankId, { minItems: 1, uniqueItems: true }),
    default: Type.Optional(BankId)
  }, strict), { default: [] }),
  clients: Type.Array(Type.Object({
    clientId: GUID_PATTERN_SCHEMA,
    bankId: BankId,
    description: Type.Optional(Type.String()),
    secretExpiresAt: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Null()])),
    enabled: Type.Boolean({ default: true })
  }, strict), { default: [] })
}, strict)
type MappingsFile = Static<typeof MappingsFileSchema>

const validate = new Ajv({ allErrors: true, useDefaults: true, strict: false }).compile<MappingsFile>(MappingsFileSchema)

/** Reads and validates the file once; every problem is `mappings.file: path: message` (exit 78). */
export function loadMappingsFile (path: string): MappingsFile {
  const raw = readYamlFile(path, 'mappings.file')
  if (!validate(raw)) throw new ConfigError(formatAjvErrors(validate.errors ?? []).map((p) => `mappings.file: ${p}`))
  const problems = crossCheckMappings(raw)
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `mappings.file: ${p}`))
  return raw
}

function crossCheckMappings (file: MappingsFile): string[] {
  const problems: string[] = []
  const banks = new Set<string>()
  file.banks.forEach((bank, i) => {
    if (banks.has(bank.id)) problems.push(`banks[${i}].id: duplicate bank "${bank.id}"`)
    banks.add(bank.id)
  })
  const tenants = new Set<string>()
  file.tenants.forEach((tenant, i) => {
    const id = tenant.tenantId.toLowerCase()
    if (tenants.has(id)) problems.push(`tenants[${i}].tenantId: duplicate tenant ${tenant.tenantId}`)
    tenants.add(id)
    tenant.banks.forEach((bank, j) => { if (!banks.has(bank)) problems.push(`tenants[${i}].banks[${j}]: names no bank in banks ("${bank}")`) })
    if (tenant.default !== undefined && !tenant.banks.includes(tenant.default)) problems.push(`tenants[${i}].default: must be one of the tenant's banks`)
  })
  const clients = new Set<string>()
  file.clients.forEach((client, i) => {
    const id = client.clientId.toLowerCase()
    if (clients.has(id)) problems.push(`clients[${i}].clientId: duplicate client ${client.clientId}`)
    clients.add(id)
    if (!banks.has(client.bankId)) problems.push(`clients[${i}].bankId: names no bank in banks ("${client.bankId}")`)
    if (client.secretExpiresAt != null && Number.isNaN(Date.parse(client.secretExpiresAt))) problems.push(`clients[${i}].secretExpiresAt: must be a date`)
  })
  return problems
}

export function createFileSource (path: string): MappingSource {
  const file = loadMappingsFile(path)
  const banks = new Map(file.banks.map((bank) => [bank.id, bank]))
  const tenants = new Map<string, TenantMapping>(file.tenants.map((tenant) => [tenant.tenantId.toLowerCase(), {
    tenantId: tenant.tenantId.toLowerCase(),
    banks: tenant.banks.map((bankId) => ({ bankId, enabled: banks.get(bankId)?.enabled ?? false, isDefault: bankId === tenant.default }))
  }]))
  const clients = new Map<string, ClientListing>(file.clients.map((client) => [client.clientId.toLowerCase(), {
    clientId: client.clientId.toLowerCase(),
    bankId: client.bankId,
    enabled: client.enabled,
    bankEnabled: banks.get(client.bankId)?.enabled ?? false,
    bankName: banks.get(client.bankId)?.name ?? null,
    description: client.description ?? null,
    secretExpiresAt: client.secretExpiresAt == null ? null : new Date(client.secretExpiresAt).toISOString()
  }]))

  return {
    kind: 'file',
    async tenant (tenantId) { return tenants.get(tenantId.toLowerCase()) ?? null },
    async client (clientId) {
      const found = clients.get(clientId.toLowerCase())
      return found ? { clientId: found.clientId, bankId: found.bankId, enabled: found.enabled, bankEnabled: found.bankEnabled } : null
    },
    async clients () { return [...clients.values()] },
    async ping () { return `file ${path}` },
    async close () {}
  }
}
