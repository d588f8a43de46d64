/**
 * `clients [--expiring-within 90d] [--json]` (CONTRACT.md §9): every BankClient with its bank
 * and secret expiry, soonest first (unknown expiry last), disabled ones marked. With the window,
 * only secrets expiring within it — already expired ones included, they are the most urgent —
 * and exit 1 when there is any, so a scheduled job can alert on it.
 */
import type { Config } from '../config/schema.js'
import { createMappingSource } from '../mappings/create.js'
import type { ClientListing } from '../mappings/source.js'
import { parseDuration } from './usage.js'

/** `90d`, `12h`, `2w` → milliseconds. */
export function parseWindow (text: string): number {
  return parseDuration('--expiring-within', text, { units: 'hdw', zero: true })
}

function sortBySecretExpiry (clients: ClientListing[]): ClientListing[] {
  const at = (c: ClientListing): number => c.secretExpiresAt === null ? Infinity : Date.parse(c.secretExpiresAt)
  return [...clients].sort((a, b) => at(a) - at(b) || a.clientId.localeCompare(b.clientId))
}

function expiringWithin (clients: ClientListing[], windowMs: number, now = Date.now()): ClientListing[] {
  return clients.filter((c) => c.secretExpiresAt !== null && Date.parse(c.secretExpiresAt) <= now + windowMs)
}

function formatClient (client: ClientListing, now = Date.now()): string {
  const expiry = client.secretExpiresAt === null ? 'no-expiry-recorded' : client.secretExpiresAt.slice(0, 10)
  const left = daysLeft(client, now)
  const days = left === null ? '' : ` (${left} days)`
  const flags = [!client.enabled ? 'DISABLED' : '', !client.bankEnabled ? 'BANK-DISABLED' : ''].filter(Boolean).join(' ')
  return [`${expiry}${days}`, client.clientId, `bank ${client.bankId}${client.bankName ? ` (${client.bankName})` : ''}`, client.description ?? '', flags]
    .filter(Boolean).join('  ')
}

/** Whole days until the secret expires (negative once expired), or null when none is recorded: the text's number and `--json`'s `daysLeft`. */
export function daysLeft (client: ClientListing, now = Date.now()): number | null {
  return client.secretExpiresAt === null ? null : Math.floor((Date.parse(client.secretExpiresAt) - now) / 86_400_000)
}

export async function runClients (config: Readonly<Config>, { windowMs, json }: { windowMs: number | undefined, json: boolean }, out: (line: string) => void): Promise<number> {
  const source = createMappingSource(config)
  try {
    // One instant for every line: the window, the text and the JSON agree.
    const now = Date.now()
    let clients = sortBySecretExpiry(await source.clients())
    if (windowMs !== undefined) clients = expiringWithin(clients, windowMs, now)
    if (json) out(JSON.stringify(clients.map((client) => ({ ...client, daysLeft: daysLeft(client, now) })), null, 2))
    else for (const client of clients) out(formatClient(client, now))
    if (clients.length === 0 && !json) out(windowMs === undefined ? 'no bank clients registered' : 'no client secret expires in that window')
    return windowMs !== undefined && clients.length > 0 ? 1 : 0
  } catch (err) {
    out(`FAIL clients: ${(err as Error).message}`)
    return 1
  } finally {
    await source.close()
  }
}
