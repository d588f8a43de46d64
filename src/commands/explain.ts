/**
 * `explain --token JWT [--path P] [--method M] [--bank B] [--at TIME] [--jwks FILE] [--client-cert FILE]`
 * (CONTRACT.md §9): the decision the proxy port would take, as JSON, through the same code
 * (verification, bank resolution, roles, identity headers), without proxying. Without `--path`
 * the token is judged against the profile its audience names, with that profile's required
 * roles and no route's. `--jwks FILE` works offline: the keys come from the file instead of the
 * authority. `--at` replays a captured token at the instant it was used. `--client-cert` is the
 * certificate a trusted ingress would pass on (§15), believed only with `server.clientCertificate`
 * set, as the proxy believes it. Exit 0 allow, 1 deny.
 * On a route in `mode: report` (§14), a refusal the route only reports is `decision: "report"`
 * with its code and detail (every one under `reported`), and exit 0: the request would pass.
 */
import { readFileSync } from 'node:fs'
import { Registry } from 'prom-client'
import type { Config } from '../config/schema.js'
import { normalizeRequestTarget, pathRefusal } from '../http/paths.js'
import { createRouteMatcher } from '../http/route-match.js'
import { isProxiedMethod, methodRefusal } from '../http/methods.js'
import { certificateFromPem, type ClientCertificate } from '../http/index.js'
import { ERRORS, GatewayError, isGatewayError, routeNotFound, wwwAuthenticate } from '../errors.js'
import { createLogger } from '../observability/logger.js'
import { createResources } from '../resources.js'
import { assertionAudience, assertionHeaderName, claimsOf } from '../assertion/signer.js'
import { UsageError } from './usage.js'
import { CONSUMER_TENANT } from '../token/entra-token.js'
import { isoInstant } from './instant.js'

export interface ExplainRequest {
  token: string
  path: string | undefined
  method: string
  bank: string | undefined
  /** A JWKS document (`readJwksFile`), used instead of the authority's keys. */
  jwks: { keys: unknown[] } | undefined
  /** ms since the epoch: the instant the token's lifetime is judged at. */
  at: number | undefined
  /** `--client-cert FILE`: the client certificate presented (§15). */
  clientCertificate?: ClientCertificate | undefined
}

/** `--client-cert FILE`: a readable PEM certificate, or a usage error naming the flag. */
export function readClientCertificateFile (file: string): ClientCertificate {
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UsageError(`--client-cert: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const certificate = certificateFromPem(pem)
  if ('malformed' in certificate) throw new UsageError(`--client-cert: ${file} is not a PEM certificate (${certificate.malformed})`)
  return certificate
}

/** `--jwks FILE`: a readable JSON file with a `keys` array, or a usage error naming the flag. */
export function readJwksFile (file: string): { keys: unknown[] } {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UsageError(`--jwks: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch {
    throw new UsageError(`--jwks: ${file} is not JSON`)
  }
  const keys = (document as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys)) throw new UsageError(`--jwks: ${file} has no "keys" array (a JWKS document is {"keys": [...]}, as the authority's jwks_uri serves it)`)
  return { keys }
}

/** `--at TIME`: ISO 8601 with a zone, or seconds since the epoch. */
export function parseInstant (text: string): number {
  if (/^\d{9,11}$/.test(text)) return Number(text) * 1000
  const at = isoInstant(text)
  if (at === undefined) throw new UsageError(`--at takes an ISO 8601 time with a zone (2026-12-01T09:30:00Z) or seconds since the epoch, not "${text}"`)
  return at
}

/** Offline keys: the JWKS document, served as Entra public cloud's. */
function offlineFetch (document: { keys: unknown[] }): (url: string) => Promise<unknown> {
  return async (url) => url.endsWith('/.well-known/openid-configuration')
    ? { jwks_uri: `${new URL(url).origin}/offline/keys`, cloud_instance_name: 'microsoftonline.com' }
    : document
}

export async function runExplain (config: Readonly<Config>, request: ExplainRequest, out: (line: string) => void): Promise<number> {
  const target = request.path === undefined ? undefined : normalizeRequestTarget(request.path.startsWith('/') ? request.path : `/${request.path}`)
  const route = target === undefined || target === null ? undefined : createRouteMatcher(config.routes)(request.method.toUpperCase(), target.path)
  const base: Record<string, unknown> = { method: request.method.toUpperCase(), path: target?.path ?? request.path ?? null, route: route?.name ?? null, api: route?.api ?? null }
  const answer = (decision: Record<string, unknown>): number => {
    out(JSON.stringify({ ...decision, ...base }, null, 2))
    return decision.decision === 'deny' ? 1 : 0
  }
  const token = request.token.replace(/^bearer\s+/i, '')
  const payload = unverifiedPayload(token)
  if (payload !== undefined) base.claims = factsOf(payload)
  const deny = (err: unknown): number => {
    const known = isGatewayError(err) ? err : undefined
    if (!known) return answer({ decision: 'deny', status: 500, code: 'INTERNAL_ERROR', detail: (err as Error).message, headers: {} })
    // The challenge the client would get with the answer (a claims challenge: what MSAL is handed).
    const challenge = wwwAuthenticate(known)
    const detail = payload === undefined ? known.detail : explainDetail(known.code, known.detail, payload, config, typeof base.api === 'string' ? base.api : undefined)
    return answer({ decision: 'deny', status: ERRORS[known.code].status, code: known.code, detail, ...(known.extensions ?? {}), ...(challenge === undefined ? {} : { wwwAuthenticate: challenge }), headers: {} })
  }
  if (!isProxiedMethod(request.method.toUpperCase())) return deny(methodRefusal())
  if (target === null) return deny(pathRefusal())
  if (request.path !== undefined && !route) return deny(routeNotFound())
  if (route?.auth === 'none') return answer({ decision: 'allow', status: 200, code: null, detail: 'The route needs no authentication', headers: {} })

  const resources = await createResources(config, {
    logger: createLogger({ level: 'silent' }),
    registry: new Registry(),
    ...(request.jwks ? { fetchJson: offlineFetch(request.jwks) } : {}),
    ...(request.at !== undefined ? { verifyAt: request.at } : {})
  })
  try {
    // The blocks in the shared cache, read before judging (a blocked principal is refused first);
    // unread, nothing is decided, as the gateway decides nothing before its first read (§8).
    await resources.sharedCache.ready()
    await resources.blocks.refresh()
    const blocks = resources.health.snapshot().dependencies.blocks
    if (blocks?.state === 'down') throw new GatewayError('GATEWAY_NOT_READY', `The blocks in the shared cache could not be read (${blocks.detail ?? 'no answer'}); nothing is decided without them`)
    const api = route?.api ?? resources.decider.profileFor(token)
    base.api = api
    // The policies that would count the request are described, not counted (§12): explain counts nothing.
    const decision = await resources.decider.decide({ api, token, selection: request.bank, method: request.method.toUpperCase(), path: target?.path, route, requireActiveBank: true, rateLimit: 'describe', clientCertificate: config.server.clientCertificate === undefined ? undefined : request.clientCertificate })
    // What the route's signed assertion would say; explain never signs one (CONTRACT.md §11).
    const audience = route === undefined || resources.assertion === undefined ? undefined : assertionAudience(route)
    const assertion = audience === undefined ? {} : { assertion: { header: assertionHeaderName(config.headers.prefix), claims: claimsOf(decision, config.assertion.issuer, audience) } }
    const rateLimits = decision.rateLimitPolicies === undefined ? {} : { rateLimits: decision.rateLimitPolicies }
    const forwarded = route ? `Forwarded to ${route.upstream}` : `Accepted by the API profile ${api}`
    const first = decision.reported?.[0]
    const outcome = first === undefined
      ? { decision: 'allow', status: 200, code: null, detail: forwarded }
      : { decision: 'report', status: 200, code: first.code, detail: `${first.detail}; only reported (the route is in mode report): ${forwarded}`, reported: decision.reported!.map((r) => ({ code: r.code, status: r.statusCode, detail: r.detail })) }
    return answer({ ...outcome, headers: decision.headers, ...(route?.authContext === undefined ? {} : { authContext: route.authContext }), ...assertion, ...rateLimits })
  } catch (err) {
    return deny(err)
  } finally {
    await resources.close()
  }
}

/** The claims explain shows (CONTRACT.md §9): who, for what, from where, when; never the signature or the token. */
const FACTS = ['tid', 'oid', 'aud', 'iss', 'ver', 'idtyp', 'azp', 'appid', 'roles', 'scp', 'iat', 'exp'] as const

/** The payload as the token states it, unverified: only to explain a decision taken by the verifier. */
function unverifiedPayload (token: string): Record<string, unknown> | undefined {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'))
    return payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? payload as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

function factsOf (payload: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(FACTS.filter((name) => Object.hasOwn(payload, name)).map((name) => [name, payload[name]]))
}

/**
 * The proxy's detail with what an operator needs to fix it; the proxy itself keeps its answers
 * terse (a caller learns nothing from them). The expected issuers come from the config's
 * templates, filled in as the verifier fills them (token/authenticator.ts).
 */
function explainDetail (code: string, detail: string, payload: Record<string, unknown>, config: Readonly<Config>, api: string | undefined): string {
  const tid = typeof payload.tid === 'string' ? payload.tid.toLowerCase() : undefined
  if (code === 'TENANT_NOT_MAPPED' && tid !== undefined) return `The token's tenant ${tid} is not mapped to any bank`
  if (code !== 'TOKEN_ISSUER_INVALID') return detail
  const actual = `the token's iss is ${JSON.stringify(payload.iss ?? null)}, ver ${JSON.stringify(payload.ver ?? null)}`
  const pinned = api === undefined ? undefined : config.apis[api]?.tenantId?.toLowerCase()
  const tenant = pinned ?? tid
  if (tenant === undefined || tenant === CONSUMER_TENANT) return `${detail} (${actual})`
  const authority = config.entra.authority.replace(/\/+$/, '')
  const issuer = (template: string): string => template.replace('{authority}', authority).replace('{tenantid}', tenant)
  const expected = `"${issuer(config.entra.v2IssuerTemplate)}" (ver "2.0") or "${issuer(config.entra.v1IssuerTemplate)}" (ver "1.0")`
  return `${detail}: expected iss ${expected}${pinned === undefined ? '' : ` for the API profile ${api}'s tenant`}; ${actual}`
}
