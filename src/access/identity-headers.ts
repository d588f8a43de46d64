/**
 * The headers upstreams receive (CONTRACT.md §6). No claim can split or add a header
 * (Envoy CVE-2023-27493 class): a value with a control character (CR, LF, NUL, …) is refused;
 * anything outside printable ASCII, and `%`, is percent-encoded as UTF-8 so non-ASCII names
 * survive reversibly; in comma lists a `,` inside one item is encoded too. Empty values are
 * omitted, never sent empty.
 */
import { GatewayError } from '../errors.js'
import type { BankContext } from './bank-resolution.js'
import type { VerifiedToken } from '../token/index.js'
import type { MappedIdentity } from './roles.js'

export interface IdentityInput {
  api: string
  token: VerifiedToken
  bank: BankContext
  mapped: MappedIdentity
}

const CONTROL = /[\u0000-\u001f\u007f]/ // eslint-disable-line no-control-regex
/** Printable ASCII without `%` (and without `,` for list items): sent as is. */
const PLAIN = /^[\x20-\x24\x26-\x7e]*$/
const PLAIN_ITEM = /^[\x20-\x24\x26-\x2b\x2d-\x7e]*$/

export function encodeHeaderValue (value: string, { list = false } = {}): string {
  if ((list ? PLAIN_ITEM : PLAIN).test(value)) return value
  if (CONTROL.test(value)) throw new GatewayError('TOKEN_MALFORMED', 'A claim carries control characters')
  let out = ''
  for (const char of value) {
    const code = char.codePointAt(0)!
    if (code >= 0x20 && code <= 0x7e && char !== '%' && !(list && char === ',')) out += char
    else for (const byte of Buffer.from(char, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

function list (values: readonly string[]): string {
  return values.map((v) => encodeHeaderValue(v, { list: true })).join(',')
}

export function buildIdentityHeaders (prefix: string, { api, token, bank, mapped }: IdentityInput): Record<string, string> {
  const p = prefix.toLowerCase()
  const headers: Record<string, string> = {}
  const put = (name: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') headers[p + name] = value
  }
  put('bank-id', bank.activeBankId === null ? undefined : encodeHeaderValue(bank.activeBankId))
  put('bank-ids', list(bank.bankIds))
  put('tenant-id', token.tenantId)
  put('principal-type', token.principalType)
  put('principal-id', token.objectId === undefined ? undefined : encodeHeaderValue(token.objectId))
  put('client-id', token.clientId === undefined ? undefined : encodeHeaderValue(token.clientId))
  put('user-name', token.userName === undefined ? undefined : encodeHeaderValue(token.userName))
  put('roles', list(mapped.effectiveRoles))
  put('scopes', token.scopes === undefined ? undefined : encodeHeaderValue(token.scopes))
  put('teams', list(mapped.teams))
  put('business-units', list(mapped.businessUnits))
  put('api', api)
  return headers
}
