/**
 * `demo` (CONTRACT.md §9): a complete local setup with no external service — a local issuer in
 * Entra's shape, an echo upstream, file mappings (a single-bank tenant, a multi-bank tenant and
 * a system client), the memory cache — then curl commands with freshly minted tokens that
 * work exactly as printed. Only this command loads the demo issuer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { parseConfig } from '../config/load.js'
import { startEchoUpstream } from '../demo/echo-upstream.js'
import { startLocalIssuer } from '../demo/local-issuer.js'
import { exitOnSignals, startGateway } from '../server.js'
import { createLogger } from '../observability/logger.js'
import { pino } from 'pino'

const MGMT_API = '00000000-0000-0000-0000-000000000001'
const SYSTEM_API = '00000000-0000-0000-0000-000000000002'
const HOME_TENANT = '00000000-0000-0000-0000-0000000000aa'
const SINGLE_BANK_TENANT = '11111111-1111-4111-8111-111111111111'
const MULTI_BANK_TENANT = '22222222-2222-4222-8222-222222222222'
const SYSTEM_CLIENT = '44444444-4444-4444-8444-444444444444'

export async function runDemo (out: (line: string) => void, { port = 8080, adminPort = 9090 }: { port?: number, adminPort?: number } = {}): Promise<void> {
  const issuer = await startLocalIssuer()
  const echo = await startEchoUpstream()
  const dir = mkdtempSync(join(tmpdir(), 'bookme-demo-'))
  process.once('exit', () => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'mappings.yaml'), stringify({
    banks: [{ id: '1001', name: 'Demo Bank' }, { id: '2001', name: 'Northern Bank' }, { id: '2002', name: 'Southern Bank' }],
    tenants: [
      { tenantId: SINGLE_BANK_TENANT, banks: ['1001'] },
      { tenantId: MULTI_BANK_TENANT, banks: ['2001', '2002'] }
    ],
    clients: [{ clientId: SYSTEM_CLIENT, bankId: '1001', description: 'Demo Bank core banking', secretExpiresAt: new Date(Date.now() + 400 * 86_400_000).toISOString().slice(0, 10) }]
  }))
  const raw = {
    server: { host: '127.0.0.1', port, adminPort },
    entra: { authority: issuer.url },
    apis: {
      management: { clientId: MGMT_API, tenancy: 'multi', principals: ['user'], bankResolution: 'tenant' },
      system: { clientId: SYSTEM_API, tenancy: 'single', tenantId: HOME_TENANT, principals: ['app'], requiredRoles: ['System'], bankResolution: 'client' }
    },
    mappings: { source: 'file', file: 'mappings.yaml' },
    cache: { store: 'memory' },
    cors: { origins: ['http://localhost:3000'] },
    routes: [
      { name: 'meetings', prefix: '/api/meetings', upstream: echo.url, api: 'management', roles: ['Employee'] },
      { name: 'admin', prefix: '/api/admin', upstream: echo.url, api: 'management', roles: ['Admin'] },
      { name: 'system', prefix: '/system', upstream: echo.url, api: 'system' },
      { name: 'public', prefix: '/public', upstream: echo.url, auth: 'none' }
    ]
  }
  let config = parseConfig(raw, { baseDir: dir, env: {} })
  // Request logs go to stderr so stdout stays the readable list of commands.
  const logger = createLogger({ destination: pino.destination(2) })
  let gateway
  try {
    gateway = await startGateway(config, { logger })
  } catch (err) {
    // 8080/9090 taken: any free ports; the printed commands carry the real ones.
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    config = parseConfig({ ...raw, server: { host: '127.0.0.1', port: 0, adminPort: 0 } }, { baseDir: dir, env: {} })
    gateway = await startGateway(config, { logger })
  }
  exitOnSignals(gateway, config)
  // The commands work as printed only once the gateway is ready (it has read the issuer's keys):
  // before that it answers 503 GATEWAY_NOT_READY.
  await ready(gateway.resources.health)

  const day = 24 * 3600
  const employee = issuer.mint({ tenantId: SINGLE_BANK_TENANT, audience: MGMT_API, lifetimeSec: day, claims: { roles: ['Employee'], preferred_username: 'emma@demo-bank.example' } })
  const manager = issuer.mint({ tenantId: MULTI_BANK_TENANT, audience: MGMT_API, lifetimeSec: day, claims: { roles: ['Manager'], preferred_username: 'max@north-south.example' } })
  const system = issuer.mint({ tenantId: HOME_TENANT, audience: SYSTEM_API, type: 'app', lifetimeSec: day, claims: { azp: SYSTEM_CLIENT, roles: ['System'] } })
  const url = gateway.proxyUrl
  const curl = (path: string, token?: string, extra = ''): string => `curl -s -i ${url}${path}${token ? ` -H 'Authorization: Bearer ${token}'` : ''}${extra}`

  out(`BookMe gateway demo: proxy ${url}, admin ${gateway.adminUrl}, issuer ${issuer.url}`)
  out('Tokens are valid for 24 hours. Ctrl-C stops everything.')
  out('')
  const commands: Array<[string, string]> = [
    ['Employee of a single-bank tenant: 200, identity headers injected (see the echo)', curl('/api/meetings/today', employee)],
    ['Manager of a two-bank tenant without choosing a bank: 400 BANK_CONTEXT_REQUIRED', curl('/api/meetings/today', manager)],
    ['The same user choosing bank 2002: 200', curl('/api/meetings/today', manager, " -H 'x-bank-context: 2002'")],
    ['Who am I (for the UI\'s bank switcher): 200', curl('/_gateway/me', manager)],
    ['An Employee on an Admin route: 403 ROLE_REQUIRED', curl('/api/admin/settings', employee)],
    ['The bank\'s system client (client credentials): 200, bank 1001', curl('/system/sync', system)],
    ['No token: 401 TOKEN_MISSING', curl('/api/meetings/today')],
    ['A spoofed identity header is stripped on an open route: 200', curl('/public/info', undefined, " -H 'X-BookMe-Bank-Id: 9999'")],
    ['Readiness and metrics on the admin port', `curl -s ${gateway.adminUrl}/readyz`]
  ]
  for (const [what, command] of commands) {
    out(`# ${what}`)
    out(command)
    out('')
  }
  out('demo ready')
}

async function ready (health: { isReady (): boolean }, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!health.isReady()) {
    if (Date.now() > deadline) throw new Error(`the demo gateway was not ready within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
