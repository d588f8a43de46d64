import { readFileSync } from 'node:fs'
import { parse } from 'yaml'

/** What both peers share: the bench's env and the same tenant → bank table the gateway reads. */
export const env = {
  upstream: process.env.UPSTREAM ?? 'http://127.0.0.1:3000',
  authority: process.env.AUTHORITY ?? 'http://127.0.0.1:3001',
  clientId: process.env.CLIENT_ID ?? '00000000-0000-0000-0000-000000000001',
  port: Number(process.env.PORT ?? 0)
}

const file = parse(readFileSync(process.env.MAPPINGS_FILE!, 'utf8')) as { tenants: Array<{ tenantId: string, banks: string[] }> }
export const bankOfTenant = new Map(file.tenants.map((t) => [t.tenantId.toLowerCase(), t.banks[0]!]))
/** The same issuer allowlist the gateway derives: v2 form of every mapped tenant. */
export const allowedIssuers = [...bankOfTenant.keys()].map((tid) => `${env.authority}/${tid}/v2.0`)
export const jwksUri = `${env.authority}/common/discovery/v2.0/keys`

export function listening (port: number): void {
  process.stdout.write(JSON.stringify({ listening: port }) + '\n')
  process.on('SIGTERM', () => process.exit(0))
}
