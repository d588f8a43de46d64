import t from 'tap'
import type { Test } from 'tap'
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, untilReady } from '../helpers/gateway.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

// `Expect: 100-continue` (RFC 9110 §10.1.1) lets a client hold its body back until the server
// asks for it. The gateway asks only once the request is admitted (CONTRACT.md §1.4): a refusal
// is the final answer, before any body was sent, so an unauthenticated client cannot make it
// read (or the client send) a body it will refuse.
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n'

/** A raw client connection: what it received so far, and a wait for a state of it. */
interface RawConnection {
  socket: Socket
  received (): string
  until (done: (text: string) => boolean): Promise<string>
  closed: Promise<unknown>
}

function open (t: Test, baseUrl: string): RawConnection {
  const { hostname, port } = new URL(baseUrl)
  const socket = connect(Number(port), hostname)
  t.teardown(() => { socket.destroy() })
  socket.on('error', () => {})
  let text = ''
  const waiters = new Set<() => void>()
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1')
    for (const waiter of waiters) waiter()
  })
  const closed = once(socket, 'close')
  return {
    socket,
    closed,
    received: () => text,
    async until (done) {
      if (done(text)) return text
      await Promise.race([
        new Promise<void>((resolve) => {
          const check = (): void => { if (done(text)) { waiters.delete(check); resolve() } }
          waiters.add(check)
        }),
        closed
      ])
      return text
    }
  }
}

/** Whether `text` holds a whole final answer (after any 100), framed by its Content-Length. */
function hasFinalAnswer (text: string): boolean {
  const rest = text.startsWith(CONTINUE) ? text.slice(CONTINUE.length) : text
  const end = rest.indexOf('\r\n\r\n')
  if (end === -1) return false
  const length = /\r\ncontent-length: (\d+)/i.exec(rest.slice(0, end))
  return length !== null && rest.length >= end + 4 + Number(length[1])
}

function head (method: string, path: string, lines: string[]): string {
  return [`${method} ${path} HTTP/1.1`, 'Host: gateway.test', 'Expect: 100-continue', 'Content-Type: application/json', ...lines, '', ''].join('\r\n')
}

async function setup (t: Test) {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url, {
      routes: [
        { name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Employee'] },
        { name: 'reports', prefix: '/api/reports', upstream: upstream.url, api: 'management', roles: ['Manager'] },
        { name: 'open', prefix: '/open', upstream: upstream.url, auth: 'none' }
      ]
    }),
    server: { bodyLimitBytes: 1024 }
  }, { mappings: DEFAULT_MAPPINGS })
  await untilReady(gw)
  const employee = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Employee'] } })
  return { gw, upstream, employee }
}

t.test('a refusal is the final answer: no 100 before it, no body read, the connection closed', async (t) => {
  const { gw, upstream, employee } = await setup(t)
  const refusals: Array<[string, string, string[], number]> = [
    ['no token', '/api/meetings/x', ['Content-Length: 5'], 401],
    ['a forged token', '/api/meetings/x', ['Content-Length: 5', 'Authorization: Bearer eyJhbGciOiJub25lIn0.e30.'], 401],
    ['a missing role', '/api/reports/x', ['Content-Length: 5', `Authorization: Bearer ${employee}`], 403],
    ['no route', '/nowhere', ['Content-Length: 5', `Authorization: Bearer ${employee}`], 404],
    ['a declared body over the limit', '/open/x', ['Content-Length: 4096'], 413],
    ['a chunked body without a token', '/api/meetings/x', ['Transfer-Encoding: chunked'], 401]
  ]
  for (const [what, path, lines, status] of refusals) {
    const client = open(t, gw.proxyUrl)
    client.socket.write(head('POST', path, lines))
    const text = await client.until(hasFinalAnswer)
    t.equal(text.slice(0, 12), `HTTP/1.1 ${status}`, `${what}: the final answer comes first`)
    t.notOk(text.includes('100 Continue'), `${what}: no 100 at all`)
    await client.closed
    t.pass(`${what}: the gateway closed the connection, whose body may still come`)
  }
  t.equal(upstream.requests.length, 0, 'nothing reached the upstream')
})

t.test('an admitted request gets 100 Continue, then its body reaches the upstream', async (t) => {
  const { gw, upstream, employee } = await setup(t)
  const admitted: Array<[string, string, string[], string]> = [
    ['a valid token', '/api/meetings/x', ['Content-Length: 7', `Authorization: Bearer ${employee}`], '{"a":1}'],
    ['an auth: none route', '/open/x', ['Content-Length: 7'], '{"a":1}'],
    ['a chunked body', '/api/meetings/x', ['Transfer-Encoding: chunked', `Authorization: Bearer ${employee}`], '7\r\n{"a":1}\r\n0\r\n\r\n']
  ]
  for (const [what, path, lines, body] of admitted) {
    const before = upstream.requests.length
    const client = open(t, gw.proxyUrl)
    client.socket.write(head('POST', path, lines))
    t.equal(await client.until((text) => text.length >= CONTINUE.length), CONTINUE, `${what}: 100 Continue, and nothing else yet`)
    client.socket.write(body)
    const text = await client.until(hasFinalAnswer)
    t.equal(text.slice(CONTINUE.length, CONTINUE.length + 12), 'HTTP/1.1 200', `${what}: then the upstream's answer`)
    t.equal(upstream.requests.length, before + 1, what)
    t.equal(upstream.last().bodyBytes, 7, `${what}: the upstream received the body`)
  }
})
