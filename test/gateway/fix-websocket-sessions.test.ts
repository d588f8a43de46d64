import t, { type Test } from 'tap'
import { once } from 'node:events'
import { connect, type AddressInfo } from 'node:net'
import { WebSocketServer, WebSocket } from 'ws'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { startTestGateway, untilReady, type TestGateway } from '../helpers/gateway.js'
import { startRedis } from '../helpers/services.js'
import { startUpstream } from '../helpers/upstream.js'
import { runCli } from '../helpers/cli.js'
import { eventually } from '../helpers/eventually.js'
import { closed, echoes, openSocket } from '../helpers/websocket-client.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

// Long-lived sessions outliving revocation (ADVISORIES.md: Oathkeeper #421 class; this gateway
// before its fix) and unbounded WebSocket frames (ws maxPayload class), CONTRACT.md §15.

interface Upstream {
  url: string
  /** The upstream side of every session, in order of arrival. */
  sockets: WebSocket[]
  closes: Array<{ code: number, reason: string }>
}

async function startWsUpstream (t: Test): Promise<Upstream> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 * 1024 })
  const upstream: Upstream = { url: '', sockets: [], closes: [] }
  server.on('connection', (socket) => {
    upstream.sockets.push(socket)
    socket.on('message', (data) => { socket.send(`echo:${data.toString().slice(0, 32)}`) })
    socket.on('close', (code, reason) => { upstream.closes.push({ code, reason: reason.toString() }) })
  })
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((resolve) => {
    for (const client of server.clients) client.terminate()
    server.close(() => { resolve() })
  }))
  upstream.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return upstream
}

async function metrics (gw: TestGateway): Promise<string> {
  return await (await fetch(`${gw.adminUrl}/metrics`)).text()
}

function metric (text: string, name: string, labels: string): number {
  return Number(new RegExp(`^bookme_gateway_${name}\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)
}

function oidOf (token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { oid: string }).oid
}

const liveRoute = (upstream: string, extra: Record<string, unknown> = {}) => ({ name: 'live', prefix: '/live', upstream, api: 'management', websocket: true, ...extra })

t.test('a block closes the open sessions it covers on every gateway within 1 s, and only those', async (t) => {
  const [issuer, upstream, redis] = await Promise.all([startIssuer(t), startWsUpstream(t), startRedis(t)])
  const raw = { ...authConfig(issuer, upstream.url, { routes: [liveRoute(upstream.url)] }), cache: { store: 'redis', redis: { url: redis.url } } }
  const start = async (): Promise<TestGateway> => {
    const gw = await startTestGateway(t, raw, { mappings: DEFAULT_MAPPINGS })
    await untilReady(gw)
    return gw
  }
  const gateways = [await start(), await start()]
  const blocked = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const colleague = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const sockets = await Promise.all(gateways.map((gw) => openSocket(t, `${gw.proxyUrl.replace('http', 'ws')}/live/room`, blocked)))
  const others = await Promise.all(gateways.map((gw) => openSocket(t, `${gw.proxyUrl.replace('http', 'ws')}/live/room`, colleague)))
  for (const socket of [...sockets, ...others]) t.equal(await echoes(socket, 'hi'), 'echo:hi', 'relaying before the block')
  t.equal(metric(await metrics(gateways[0]!), 'websocket_sessions', 'route="live"'), 2, 'two open sessions on the first gateway')

  const closes = sockets.map(closed)
  const dir = mkdtempSync(join(tmpdir(), 'bookme-ws-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'gateway.yaml'), stringify(raw))
  const command = await runCli(['block', '--user', oidOf(blocked), '--reason', 'account compromised', '--config', join(dir, 'gateway.yaml')])
  t.equal(command.code, 0, command.stderr)
  const since = Date.now()
  const ends = await Promise.all(closes)
  const took = Date.now() - since
  t.same(ends, [{ code: 1008, reason: 'principal blocked' }, { code: 1008, reason: 'principal blocked' }], 'both gateways close the session with 1008')
  t.ok(took <= 1000, `closed within 1 s of the command (${took} ms)`)
  for (const socket of others) t.equal(await echoes(socket, 'still'), 'echo:still', 'another user of the same tenant keeps relaying')
  t.ok(upstream.closes.filter((c) => c.code === 1008).length >= 2, 'the upstream side of each blocked session is closed too')
  for (const gw of gateways) {
    const text = await eventually(() => metrics(gw), (m) => metric(m, 'websocket_sessions', 'route="live"') === 1)
    t.equal(metric(text, 'websocket_closed_total', 'reason="principal_blocked"'), 1)
    t.equal(metric(text, 'websocket_sessions', 'route="live"'), 1, 'the gauge follows')
  }
  await t.rejects(openSocket(t, `${gateways[1]!.proxyUrl.replace('http', 'ws')}/live/room`, blocked), /status 403/, 'a new handshake is refused')
})

t.test('a session ends when its token expires, with 1008 "token expired"', async (t) => {
  const [issuer, upstream] = await Promise.all([startIssuer(t), startWsUpstream(t)])
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, { routes: [liveRoute(upstream.url)] }), { mappings: DEFAULT_MAPPINGS })
  await untilReady(gw)
  const shortLived = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, lifetimeSec: 2 })
  const exp = (JSON.parse(Buffer.from(shortLived.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number }).exp
  const socket = await openSocket(t, `${gw.proxyUrl.replace('http', 'ws')}/live/x`, shortLived)
  const end = closed(socket)
  t.equal(await echoes(socket, 'a'), 'echo:a')
  t.same(await end, { code: 1008, reason: 'token expired' })
  t.ok(Date.now() >= exp * 1000, 'not before the token\'s exp')
  t.equal(metric(await eventually(() => metrics(gw), (m) => metric(m, 'websocket_sessions', 'route="live"') === 0), 'websocket_closed_total', 'reason="token_expired"'), 1)
})

t.test('a message over websocketMaxMessageBytes closes the session with 1009, in either direction', async (t) => {
  const [issuer, upstream] = await Promise.all([startIssuer(t), startWsUpstream(t)])
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url, { routes: [liveRoute(upstream.url, { websocketMaxMessageBytes: 4096 })] }), { mappings: DEFAULT_MAPPINGS })
  await untilReady(gw)
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const url = `${gw.proxyUrl.replace('http', 'ws')}/live/x`

  const sender = await openSocket(t, url, token)
  t.equal(await echoes(sender, 'x'.repeat(4096)), `echo:${'x'.repeat(32)}`, 'a message at the limit passes')
  const senderEnd = closed(sender)
  sender.send(Buffer.alloc(4097))
  t.equal((await senderEnd).code, 1009, 'the client that sent too much gets 1009')
  await t.resolves(waitFor(() => upstream.closes.some((c) => c.code === 1009)), 'the upstream side is closed with 1009 too')

  const receiver = await openSocket(t, url, token)
  const receiverEnd = closed(receiver)
  await waitFor(() => upstream.sockets.length === 2)
  upstream.sockets[1]!.send(Buffer.alloc(5000))
  t.equal((await receiverEnd).code, 1009, 'an upstream message over the limit closes the client with 1009')

  // The default (1 MiB) holds without a route setting: a 90 MiB message is never buffered.
  const big = await startTestGateway(t, authConfig(issuer, upstream.url, { routes: [liveRoute(upstream.url)] }), { mappings: DEFAULT_MAPPINGS })
  await untilReady(big)
  const flooder = await openSocket(t, `${big.proxyUrl.replace('http', 'ws')}/live/x`, token)
  const flooderEnd = closed(flooder)
  await waitFor(() => upstream.sockets.length === 3)
  flooder.send(Buffer.alloc(1024 * 1024 + 1))
  t.equal((await flooderEnd).code, 1009, 'the default limit is 1 MiB')
  // Counted when the gateway's side of the socket has closed, which may follow the client's.
  const counted = await eventually(async () => metric(await metrics(big), 'websocket_closed_total', 'reason="message_too_large"'), (n) => n === 1)
  t.equal(counted, 1)
})

t.test('only a GET WebSocket handshake to a websocket route is taken over; other Upgrade requests keep their body', async (t) => {
  const [ws, http] = await Promise.all([startWsUpstream(t), startUpstream(t)])
  const gw = await startTestGateway(t, {
    routes: [
      { name: 'live', prefix: '/live', upstream: ws.url, auth: 'none', websocket: true },
      { name: 'open', prefix: '/open', upstream: http.url, auth: 'none' }
    ]
  })
  const { port } = new URL(gw.proxyUrl)
  for (const path of ['/open/orders', '/live/orders']) {
    const body = '{"amount":100}'
    const answer = await rawExchange(Number(port), `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    if (path === '/open/orders') {
      t.match(answer, /^HTTP\/1\.1 200/, 'a plain route answers the POST')
      t.equal(http.requests.at(-1)!.bodyBytes, body.length, 'the upstream receives the body')
    } else {
      // Forwarded as plain HTTP, the WebSocket upstream (ws) answers it 426 itself: never a 101.
      t.match(answer, /^HTTP\/1\.1 426/, 'a POST to a WebSocket route is plain HTTP, not an upgrade')
    }
  }
})

/** Writes raw bytes, returns what came back until the server ends or 2 s of silence. */
async function rawExchange (port: number, request: string): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write(request)
  let received = ''
  socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1') })
  await waitFor(() => /\r\n\r\n/.test(received) && (!/content-length: (\d+)/i.test(received) || received.length >= received.indexOf('\r\n\r\n') + 4 + Number(/content-length: (\d+)/i.exec(received)![1])))
  socket.destroy()
  return received
}

async function waitFor (done: () => boolean, timeoutMs = 10_000): Promise<void> {
  if (!await eventually(done, (held) => held, timeoutMs)) throw new Error('timed out')
}
