/**
 * The two Microsoft identity calls of groups overage (CONTRACT.md §13): a client-credentials
 * token for the user's tenant, kept until shortly before it expires, and
 * `POST /v1.0/users/{oid}/checkMemberGroups` for at most 20 group ids per call. Failures are
 * `GraphFailure`s whose message an operator can act on; a secret or a token is never in one.
 */
import { failureReason } from '../backends/failure-reason.js'
import { createGraphCredentials, type GraphCredentialOptions, type GraphCredentials } from './graph-credentials.js'

export interface GraphClientOptions extends GraphCredentialOptions {
  /** `entra.authority`: the token endpoint is `{authority}/{tid}/oauth2/v2.0/token`. */
  authority: string
  /** Graph's origin (`https://graph.microsoft.com`); the token's scope is `{endpoint}/.default`. */
  endpoint: string
  timeoutMs: number
  now?: () => number
}

export type GraphFailureKind = 'consent' | 'credentials' | 'permission' | 'throttled' | 'unknown-user' | 'unreachable' | 'refused'

export class GraphFailure extends Error {
  constructor (readonly kind: GraphFailureKind, message: string, readonly retryAfterSec?: number) {
    super(message)
    this.name = 'GraphFailure'
  }
}

/** Graph allows 20 ids per checkMemberGroups call. */
const CHECK_BATCH = 20
/** A token is renewed this long before its `exp`, so none expires on its way to Graph. */
const TOKEN_EARLY_MS = 60_000

export interface GraphClient {
  /** The credential the token requests carry (graph-credentials.ts): its kind, for `check`. */
  readonly credentials: GraphCredentials
  /** An access token for Graph in `tenantId` (cached per tenant until shortly before its expiry). */
  tokenFor (tenantId: string): Promise<string>
  /** The ids among `groupIds` that the user is a (transitive) member of, lower case. */
  checkMemberGroups (tenantId: string, objectId: string, groupIds: readonly string[]): Promise<string[]>
}

export function createGraphClient (options: GraphClientOptions): GraphClient {
  const now = options.now ?? Date.now
  const authority = options.authority.replace(/\/+$/, '')
  const endpoint = options.endpoint.replace(/\/+$/, '')
  const scope = `${new URL(endpoint).origin}/.default`
  const credentials = createGraphCredentials(options, { now })
  const tokens = new Map<string, { value: string, until: number }>()
  const pendingTokens = new Map<string, Promise<string>>()

  async function post (url: string, init: RequestInit, what: string): Promise<Response> {
    try {
      return await fetch(url, { ...init, signal: AbortSignal.timeout(options.timeoutMs), redirect: 'error' })
    } catch (err) {
      throw new GraphFailure('unreachable', `${what} did not answer (${failureReason(err, options.timeoutMs)})`)
    }
  }

  async function requestToken (tenantId: string): Promise<string> {
    const tokenUrl = `${authority}/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`
    let proof: Record<string, string>
    try {
      proof = await credentials.authenticate(tokenUrl)
    } catch (err) {
      throw new GraphFailure('credentials', `the gateway's Graph credentials could not be read: ${(err as Error).message}`)
    }
    const res = await post(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: options.clientId, ...proof, scope }).toString()
    }, 'the token endpoint')
    const body = await jsonOf(res)
    if (!res.ok) throw tokenFailure(res, body, credentials)
    const token = body?.access_token
    const expiresIn = Number(body?.expires_in)
    if (typeof token !== 'string' || token === '' || !Number.isFinite(expiresIn)) throw new GraphFailure('refused', 'the token endpoint answered without an access token')
    tokens.set(tenantId, { value: token, until: now() + expiresIn * 1000 - TOKEN_EARLY_MS })
    return token
  }

  async function checkBatch (tenantId: string, objectId: string, batch: readonly string[], token: string): Promise<string[]> {
    const res = await post(`${endpoint}/v1.0/users/${encodeURIComponent(objectId)}/checkMemberGroups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ groupIds: batch })
    }, 'Microsoft Graph')
    const body = await jsonOf(res)
    if (res.ok && Array.isArray(body?.value)) return (body.value as unknown[]).filter((id): id is string => typeof id === 'string').map((id) => id.toLowerCase())
    if (res.status === 401) tokens.delete(tenantId) // the next lookup asks for a new one
    throw graphFailure(res, body)
  }

  const client: GraphClient = {
    credentials,
    async tokenFor (tenantId) {
      const known = tokens.get(tenantId)
      if (known !== undefined && known.until > now()) return known.value
      const pending = pendingTokens.get(tenantId)
      if (pending !== undefined) return await pending
      const request = requestToken(tenantId).finally(() => pendingTokens.delete(tenantId))
      pendingTokens.set(tenantId, request)
      return await request
    },
    async checkMemberGroups (tenantId, objectId, groupIds) {
      const token = await client.tokenFor(tenantId)
      const batches: string[][] = []
      for (let i = 0; i < groupIds.length; i += CHECK_BATCH) batches.push(groupIds.slice(i, i + CHECK_BATCH))
      return (await Promise.all(batches.map(async (batch) => await checkBatch(tenantId, objectId, batch, token)))).flat()
    }
  }
  return client
}

type Json = Record<string, unknown> | undefined

async function jsonOf (res: Response): Promise<Json> {
  try {
    const body: unknown = await res.json()
    return body !== null && typeof body === 'object' ? body as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/** Seconds from `Retry-After` (delta-seconds or an HTTP date), at least 1. */
function retryAfterOf (res: Response): number | undefined {
  const value = res.headers.get('retry-after')
  if (value === null) return undefined
  const seconds = /^\d+$/.test(value.trim()) ? Number(value) : Math.ceil((Date.parse(value) - Date.now()) / 1000)
  return Number.isFinite(seconds) ? Math.max(1, seconds) : undefined
}

// AADSTS codes (learn.microsoft.com/entra/identity-platform/reference-error-codes) meaning the
// tenant has not admitted the app: not consented (65001), app unknown in the tenant (700016),
// disabled there (7000112), Graph's service principal missing (500011).
const NOT_CONSENTED = new Set([65001, 700016, 7000112, 500011])

function aadsts (body: Json): string {
  const codes = Array.isArray(body?.error_codes) ? (body.error_codes as unknown[]).filter((c) => typeof c === 'number') : []
  return codes.length > 0 ? ` (AADSTS${codes.join(', AADSTS')})` : typeof body?.error === 'string' ? ` (${body.error})` : ''
}

// AADSTS codes refusing the client's own credential, with what to check: a secret (7000215,
// 7000222, 7000218 none sent), a certificate's assertion (700027 signature or certificate not
// registered, 700024 time range, 700023 audience, 700021 issuer, 50048 subject, 50013 invalid,
// 50012 authentication failed) or a federated token (70021, 700211–700213: no federated
// credential matches its issuer, audience or subject).
const CREDENTIAL_HINTS = new Map<number, string>([
  [7000215, 'not a secret of the app registration'],
  [7000222, 'the secret has expired: add a new one to the app registration'],
  [7000218, 'no credential was sent'],
  [700027, 'is this certificate uploaded to the app registration (Certificates & secrets)?'],
  [700024, 'the assertion is outside its validity: is the gateway\'s clock right?'],
  [700023, 'the assertion\'s audience is not this token endpoint'],
  [700021, 'the assertion\'s issuer is not entra.graph.clientId'],
  [50048, 'the assertion\'s subject is not its issuer'],
  [50013, 'the assertion was refused'],
  [50012, 'the certificate was refused'],
  [70021, 'no federated credential of the app registration matches the service account token (issuer, subject, audience api://AzureADTokenExchange)'],
  [700211, 'no federated credential of the app registration names the token\'s issuer'],
  [700212, 'no federated credential of the app registration names the token\'s audience'],
  [700213, 'no federated credential of the app registration names the token\'s subject']
])

function tokenFailure (res: Response, body: Json, credentials: GraphCredentials): GraphFailure {
  const codes = Array.isArray(body?.error_codes) ? (body.error_codes as unknown[]) : []
  if (res.status === 429 || res.status === 503) return new GraphFailure('throttled', `the token endpoint is throttling (HTTP ${res.status})`, retryAfterOf(res) ?? 1)
  if (res.status === 403 || codes.some((code) => NOT_CONSENTED.has(code as number))) {
    return new GraphFailure('consent', `the bank's tenant has not consented to the gateway's Graph application: an administrator of the tenant must grant it admin consent for GroupMember.Read.All${aadsts(body)}`)
  }
  const hint = codes.map((code) => CREDENTIAL_HINTS.get(code as number)).find((text) => text !== undefined)
  if (body?.error === 'invalid_client' || res.status === 401 || hint !== undefined) {
    return new GraphFailure('credentials', `the token endpoint refused the gateway's Graph credentials (entra.graph.clientId, ${credentials.named})${aadsts(body)}${hint === undefined ? '' : `: ${hint}`}`)
  }
  return new GraphFailure('refused', `the token endpoint answered HTTP ${res.status}${aadsts(body)}`)
}

function graphFailure (res: Response, body: Json): GraphFailure {
  const code = (body?.error as { code?: unknown } | undefined)?.code
  const named = typeof code === 'string' ? ` (${code})` : ''
  if (res.status === 429 || res.status === 503 || res.status === 504) return new GraphFailure('throttled', `Microsoft Graph is throttling (HTTP ${res.status})`, retryAfterOf(res) ?? 1)
  if (res.status === 403) return new GraphFailure('permission', `Microsoft Graph does not let the gateway read group memberships in this tenant: grant its application GroupMember.Read.All with admin consent${named}`)
  if (res.status === 404) return new GraphFailure('unknown-user', `Microsoft Graph does not know this user in the tenant${named}`)
  return new GraphFailure('refused', `Microsoft Graph answered HTTP ${res.status}${named}`)
}
