import t, { type Test } from 'tap'
import { once } from 'node:events'
import { WebSocketServer, WebSocket } from 'ws'
import type { IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startTestGateway } from '../helpers/gateway.js'
import { startIssuer } from '../helpers/issuer.js'

/** A real WebSocket upstream that echoes messages and remembers each handshake's URL and headers. */
async function startWsUpstream (t: Test) {
  const handshakes: Array<{ url: string, headers: IncomingHttpHeaders }> = []
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  server.on('connection', (socket, req) => {
    handshakes.push({ url: req.url ?? '', headers: req.headers })
    socket.on('message', (data) => socket.send(`echo:${data.toString()}`))
  })
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((resolve) => {
    for (const client of server.clients) client.terminate()
    server.close(() => resolve())
  }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, handshakes }
}

function openSocket (url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const socket = new WebSocket(url, { headers })
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket))
    socket.once('error', reject)
    socket.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode })))
  })
}

async function refusalStatus (url: string, headers: Record<string, string> = {}): Promise<number | undefined> {
  try {
    (await openSocket(url, headers)).terminate()
    return 101
  } catch (err) {
    return (err as { status?: number }).status
  }
}

t.test('websocket: true routes upgrade, relay messages and inject trusted headers over spoofed ones', async (t) => {
  const upstream = await startWsUpstream(t)
  const gw = await startTestGateway(t, {
    routes: [{ name: 'live', prefix: '/live', upstream: upstream.url, auth: 'none', websocket: true, rewritePrefix: '/socket' }]
  })
  const socket = await openSocket(`${gw.proxyUrl.replace('http', 'ws')}/live/room?x=1`, {
    'x-bookme-bank-id': 'spoofed', 'x-request-id': 'ws-req-1'
  })
  t.teardown(() => socket.terminate())
  socket.send('hello')
  const [reply] = await once(socket, 'message') as [Buffer]
  t.equal(reply.toString(), 'echo:hello')
  const handshake = upstream.handshakes[0]!
  t.equal(handshake.url, '/socket/room?x=1')
  t.equal(handshake.headers['x-bookme-bank-id'], undefined, 'spoofed identity header stripped')
  t.equal(handshake.headers['x-request-id'], 'ws-req-1')
  t.equal(handshake.headers['x-forwarded-for'], '127.0.0.1')
})

t.test('a path-traversal upgrade cannot escape to another route or prefix', async (t) => {
  const [upstream, issuer] = await Promise.all([startWsUpstream(t), startIssuer(t)])
  const gw = await startTestGateway(t, {
    entra: { authority: issuer.url },
    routes: [
      { name: 'live', prefix: '/live', upstream: upstream.url, auth: 'none', websocket: true },
      { name: 'locked', prefix: '/locked', upstream: upstream.url, auth: 'required', api: 'management', websocket: true }
    ],
    apis: { management: { clientId: '00000000-0000-0000-0000-000000000001' } }
  })
  const base = gw.proxyUrl.replace('http', 'ws')
  t.equal(await refusalStatus(`${base}/live/..%2flocked/x`), 401, 'encoded traversal lands on the locked route and is refused')
  t.equal(await refusalStatus(`${base}/locked/x`), 401, 'an unauthenticated upgrade is refused with the normal HTTP answer')
  t.equal(upstream.handshakes.length, 0, 'the upstream never saw a handshake')
})

t.test('routes without websocket: true do not upgrade', async (t) => {
  const upstream = await startWsUpstream(t)
  const gw = await startTestGateway(t, { routes: [{ name: 'plain', prefix: '/plain', upstream: upstream.url, auth: 'none' }] })
  await t.rejects(openSocket(`${gw.proxyUrl.replace('http', 'ws')}/plain/x`))
  t.equal(upstream.handshakes.length, 0)
})

t.test('beside a websocket route, an upgrade to a plain route is answered as plain HTTP, never upgraded', async (t) => {
  const [upstream, issuer] = await Promise.all([startWsUpstream(t), startIssuer(t)])
  const gw = await startTestGateway(t, {
    entra: { authority: issuer.url },
    routes: [
      { name: 'live', prefix: '/live', upstream: upstream.url, auth: 'none', websocket: true },
      { name: 'plain', prefix: '/plain', upstream: upstream.url, auth: 'none' },
      { name: 'locked', prefix: '/locked', upstream: upstream.url, auth: 'required', api: 'management' }
    ],
    apis: { management: { clientId: '00000000-0000-0000-0000-000000000001' } }
  })
  const base = gw.proxyUrl.replace('http', 'ws')
  // The ws upstream answers a plain GET with 426 Upgrade Required: the handshake's headers never reached it.
  t.equal(await refusalStatus(`${base}/plain/x`), 426, 'forwarded without its upgrade headers')
  t.equal(await refusalStatus(`${base}/locked/x`), 401, 'the plain route\'s policy still runs first')
  t.equal(upstream.handshakes.length, 0, 'the upstream never saw a handshake')
})

t.test('an authenticated upgrade carries the identity headers to the upstream', async (t) => {
  const { startIssuer, authConfig, BANK_TENANT, MGMT_CLIENT, DEFAULT_MAPPINGS } = await import('../helpers/issuer.js')
  const issuer = await startIssuer(t)
  const upstream = await startWsUpstream(t)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, {
    routes: [{ name: 'live', prefix: '/live', upstream: upstream.url, api: 'management', roles: ['Employee'], websocket: true }]
  }), { mappings: DEFAULT_MAPPINGS })
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const socket = await openSocket(`${gw.proxyUrl.replace('http', 'ws')}/live/feed`, { authorization: `Bearer ${token}`, 'x-bookme-roles': 'Admin' })
  t.teardown(() => socket.terminate())
  socket.send('ping')
  const [reply] = await once(socket, 'message') as [Buffer]
  t.equal(reply.toString(), 'echo:ping')
  const headers = upstream.handshakes[0]!.headers
  t.equal(headers['x-bookme-bank-id'], '1001')
  t.equal(headers['x-bookme-tenant-id'], BANK_TENANT)
  t.equal(headers['x-bookme-roles'], 'Employee', 'the spoofed Admin was replaced')
  const employee = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Customer'] } })
  t.equal(await refusalStatus(`${gw.proxyUrl.replace('http', 'ws')}/live/feed`, { authorization: `Bearer ${employee}` }), 403, 'role refused before the upgrade')
})

t.test('an authenticated upgrade carries the signed assertion too, verifiable for the route\'s audience', async (t) => {
  const { startIssuer, authConfig, BANK_TENANT, MGMT_CLIENT, DEFAULT_MAPPINGS } = await import('../helpers/issuer.js')
  const { createAssertionVerifier } = await import('../../docs/examples/verify-assertion.js')
  const { generateKeyPairSync } = await import('node:crypto')
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'bookme-ws-key-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'k.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }))
  const issuer = await startIssuer(t)
  const upstream = await startWsUpstream(t)
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url, { routes: [{ name: 'live', prefix: '/live', upstream: upstream.url, api: 'management', websocket: true }] }),
    assertion: { keys: [{ kid: 'k', privateKeyFile: join(dir, 'k.pem') }] }
  }, { mappings: DEFAULT_MAPPINGS })
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const socket = await openSocket(`${gw.proxyUrl.replace('http', 'ws')}/live/feed`, { authorization: `Bearer ${token}`, 'x-bookme-assertion': 'forged' })
  t.teardown(() => socket.terminate())
  socket.send('ping')
  await once(socket, 'message')
  const headers = upstream.handshakes[0]!.headers as Record<string, string>
  const identity = await createAssertionVerifier({ jwksUrl: `${gw.proxyUrl}/_gateway/jwks.json`, audience: 'live' })(headers)
  t.equal(identity.bank_id, '1001')
  t.equal(identity.tid, BANK_TENANT)
})
