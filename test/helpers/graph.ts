import type { Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { LocalIssuer } from '../../src/demo/local-issuer.js'
import { createClientAuthentication, type ClientAuthentication, type EntraApp } from './entra-token-endpoint.js'

/**
 * A real local HTTP server playing Microsoft Graph's `checkMemberGroups`, and the issuer's
 * client-credentials token endpoint beside it (installed on the local issuer, which serves the
 * authority): tokens only for the app, authenticated as Entra would (entra-token-endpoint.ts: by
 * default its one secret GRAPH_SECRET), only in consented tenants, and Graph accepting only the
 * tokens it issued for the tenant asked about.
 */
export const GRAPH_APP = '55555555-5555-4555-8555-555555555555'
export const GRAPH_SECRET = 'graph-secret-Zx9~never-logged'

export interface TokenRequest {
  tenant: string
  form: URLSearchParams
  /** How the client authenticated, when the endpoint accepted it. */
  client?: ClientAuthentication
}
export interface GraphCall { tenant: string | undefined, objectId: string, groupIds: string[] }
export interface CannedAnswer { status: number, body?: unknown, headers?: Record<string, string> }

export interface FakeGraph {
  /** Graph's origin: `entra.graph.endpoint`. */
  url: string
  tokenRequests: TokenRequest[]
  calls: GraphCall[]
  /** Group ids (lower case) each user (oid, lower case) is a member of. */
  members: Map<string, string[]>
  /** Tenants whose administrators consented to the app. */
  consented: Set<string>
  /** Answers the token endpoint gives instead, per tenant (e.g. 403 for a tenant that never consented). */
  tokenAnswers: Map<string, CannedAnswer>
  /** Answers for the next Graph calls, first first (429 with Retry-After, 403…). */
  nextAnswers: CannedAnswer[]
  /** While true Graph never answers (a hung connection). */
  hang: boolean
  /** When set, each Graph call is answered once it resolves (a slow Graph the test releases). */
  held: Promise<void> | undefined
  /** The app registration the token endpoint authenticates against; change it to rotate or revoke. */
  app: EntraApp
  /** `expires_in` of the tokens issued: at most 60 makes the gateway ask for a new one every time. */
  expiresInSec: number
  close (): Promise<void>
}

export interface FakeGraphOptions {
  /** The app registration's credentials (default: GRAPH_APP with the secret GRAPH_SECRET). */
  app?: Partial<EntraApp>
  expiresInSec?: number
}

function send (res: ServerResponse, { status, body, headers = {} }: CannedAnswer): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body === undefined ? '' : JSON.stringify(body))
}

async function bodyOf (req: IncomingMessage): Promise<string> {
  let text = ''
  for await (const chunk of req) text += String(chunk)
  return text
}

export async function startFakeGraph (t: Test, issuer: LocalIssuer, options: FakeGraphOptions = {}): Promise<FakeGraph> {
  const issued = new Map<string, string>() // access token → tenant
  const hung = new Set<ServerResponse>()
  const server = createServer((req, res) => {
    void (async () => {
      const text = await bodyOf(req)
      const match = /^\/v1\.0\/users\/([^/]+)\/checkMemberGroups$/.exec(req.url ?? '')
      if (req.method !== 'POST' || !match) return send(res, { status: 404, body: { error: { code: 'Request_ResourceNotFound' } } })
      if (graph.hang) { hung.add(res); return }
      const tenant = issued.get((req.headers.authorization ?? '').replace(/^Bearer /, ''))
      const groupIds = (JSON.parse(text) as { groupIds: string[] }).groupIds
      graph.calls.push({ tenant, objectId: decodeURIComponent(match[1]!), groupIds })
      if (graph.held !== undefined) await graph.held
      const canned = graph.nextAnswers.shift()
      if (canned) return send(res, canned)
      if (tenant === undefined) return send(res, { status: 401, body: { error: { code: 'InvalidAuthenticationToken' } } })
      if (groupIds.length > 20) return send(res, { status: 400, body: { error: { code: 'Request_BadRequest', message: 'at most 20 ids' } } })
      const of = graph.members.get(decodeURIComponent(match[1]!).toLowerCase()) ?? []
      send(res, { status: 200, body: { value: groupIds.filter((id) => of.includes(id.toLowerCase())) } })
    })()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const graph: FakeGraph = {
    url,
    tokenRequests: [],
    calls: [],
    members: new Map(),
    consented: new Set(),
    tokenAnswers: new Map(),
    nextAnswers: [],
    hang: false,
    held: undefined,
    app: { clientId: GRAPH_APP, secrets: [GRAPH_SECRET], certificates: [], federated: [], ...options.app },
    expiresInSec: options.expiresInSec ?? 3599,
    async close () {
      for (const res of hung) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }

  // The app registration is read at each request, so a test may replace it (graph.app = …).
  const authenticators = new WeakMap<EntraApp, ReturnType<typeof createClientAuthentication>>()
  const authenticate = (app: EntraApp): ReturnType<typeof createClientAuthentication> => {
    const known = authenticators.get(app)
    if (known !== undefined) return known
    const created = createClientAuthentication(app)
    authenticators.set(app, created)
    return created
  }
  issuer.tokenEndpoint = (req, res, tenant) => {
    void (async () => {
      const form = new URLSearchParams(await bodyOf(req))
      const request: TokenRequest = { tenant, form }
      graph.tokenRequests.push(request)
      const canned = graph.tokenAnswers.get(tenant)
      if (canned) return send(res, canned)
      if (form.get('grant_type') !== 'client_credentials' || form.get('scope') !== `${url}/.default`) return send(res, { status: 400, body: { error: 'invalid_request' } })
      const client = await authenticate(graph.app)(form, `${issuer.url}/${tenant}/oauth2/v2.0/token`)
      if (!client.ok) return send(res, client.answer)
      request.client = client.as
      if (!graph.consented.has(tenant)) {
        return send(res, { status: 400, body: { error: 'unauthorized_client', error_description: 'AADSTS700016: Application not found in the directory.', error_codes: [700016] } })
      }
      const token = randomUUID()
      issued.set(token, tenant)
      send(res, { status: 200, body: { token_type: 'Bearer', expires_in: graph.expiresInSec, access_token: token } })
    })()
  }
  t.teardown(async () => {
    issuer.tokenEndpoint = undefined
    await graph.close()
  })
  return graph
}

/** `n` group ids, lower case, deterministic per `tag`. */
export function groupIds (tag: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${tag.padStart(8, '0').slice(0, 8)}-0000-4000-8000-${String(i).padStart(12, '0')}`)
}
