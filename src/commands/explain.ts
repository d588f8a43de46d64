import { readFileSync } from 'node:fs'
import { Registry } from 'prom-client'
import type { Config } from '../config/schema.js'
import { authorize } from '../domain/authorization.js'
import { normalizeRequestTarget } from '../domain/paths.js'
import { matchRoute } from '../domain/route-match.js'
import { ERRORS, GatewayError, isGatewayError } from '../errors.js'
import { createLogger } from '../logger.js'
import { resolveBankOf } from '../domain/bank-resolution.js'
import { createResources } from '../resources.js'

/**
 * `explain --token JWT [--path P] [--method M] [--bank B] [--jwks FILE]` (CONTRACT.md §9):
 * the decision the proxy port would take, as JSON, through the same code (verification, bank
 * resolution, roles, identity headers), without proxying. `--jwks FILE` works offline: the
 * keys come from the file instead of the authority. Exit 0 allow, 1 deny.
 */
export interface ExplainRequest { token: string, path: string, method: string, bank: string | undefined, jwksFile: string | undefined }

/** Offline keys: a JWKS document from a file, treated as Entra public cloud's. */
function offlineFetch (file: string): (url: string) => Promise<unknown> {
  const document = JSON.parse(readFileSync(file, 'utf8')) as unknown
  return async (url) => url.endsWith('/.well-known/openid-configuration')
    ? { jwks_uri: `${new URL(url).origin}/offline/keys`, cloud_instance_name: 'microsoftonline.com' }
    : document
}

export async function runExplain (config: Readonly<Config>, request: ExplainRequest, out: (line: string) => void): Promise<number> {
  const target = normalizeRequestTarget(request.path.startsWith('/') ? request.path : `/${request.path}`)
  const route = target === null ? undefined : matchRoute(config.routes, target.path)
  const base = { method: request.method.toUpperCase(), path: target?.path ?? request.path, route: route?.name ?? null, api: route?.api ?? null }
  const answer = (decision: Record<string, unknown>): number => {
    out(JSON.stringify({ ...decision, ...base }, null, 2))
    return decision.decision === 'allow' ? 0 : 1
  }
  const deny = (err: unknown): number => {
    const known = isGatewayError(err) ? err : undefined
    if (!known) return answer({ decision: 'deny', status: 500, code: 'INTERNAL_ERROR', detail: (err as Error).message, headers: {} })
    return answer({ decision: 'deny', status: ERRORS[known.code].status, code: known.code, detail: known.detail, ...(known.extensions ?? {}), headers: {} })
  }
  if (!route) return deny(new GatewayError('ROUTE_NOT_FOUND', 'No route matches this path'))
  if (route.auth === 'none') return answer({ decision: 'allow', status: 200, code: null, detail: 'The route needs no authentication', headers: {} })

  const resources = await createResources(config, {
    logger: createLogger({ level: 'silent' }),
    registry: new Registry(),
    ...(request.jwksFile ? { fetchJson: offlineFetch(request.jwksFile) } : {})
  })
  try {
    const api = route.api!
    const profile = config.apis[api]!
    const token = await resources.authenticator.verify(api, request.token.replace(/^bearer\s+/i, ''))
    const bank = await resolveBankOf(resources.mappings, profile.bankResolution, token, request.bank)
    const { headers } = authorize({ api, token, bank, routeRoles: route.roles, requiredRoles: profile.requiredRoles, mapClaims: resources.mapClaims, headerPrefix: config.headers.prefix })
    return answer({ decision: 'allow', status: 200, code: null, detail: `Forwarded to ${route.upstream}`, headers })
  } catch (err) {
    return deny(err)
  } finally {
    await resources.close()
  }
}
