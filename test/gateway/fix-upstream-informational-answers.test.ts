import t from 'tap'
import type { Test } from 'tap'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { once } from 'node:events'
import { openRoute, startTestGateway } from '../helpers/gateway.js'

// An upstream's interim (1xx) answers and its bodiless answers must never break the final one
// (CONTRACT.md §1; RFC 9110 §15.2: a client must parse 1xx before the final answer; §8.6: a 304
// or a HEAD answer may declare the Content-Length a GET's body would have, and carries no body).
// The upstream here writes exact bytes, and the client pipelines a second request on the same
// connection, which is lost when the first answer breaks the connection.

/**
 * Exact answers by request path; `/plain` answers the pipelined second request. An array is
 * written in parts, each once the previous one was sent, so the gateway reads them apart.
 */
const ANSWERS: Record<string, string | string[]> = {
  '/early-hints': 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
  '/processing': 'HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  '/unsolicited-continue': 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  '/not-modified': 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 5\r\n\r\n',
  '/head': 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n',
  '/split-continue': ['HTTP/1.1 10', '0 Continue\r\n', '\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'],
  '/continue-in-body': ['HTTP/1.1 200 OK\r\nContent-Length: 25\r\n\r\n', 'HTTP/1.1 100 Continue\r\n\r\n'],
  '/plain': 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond'
}

/** A TCP upstream that reads request heads (no bodies) and writes `ANSWERS[path]` verbatim. */
async function startScriptedUpstream (t: Test): Promise<{ url: string, paths: string[], connections: () => number }> {
  const paths: string[] = []
  const sockets = new Set<Socket>()
  let connections = 0
  const server = createServer((socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let pending = ''
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1')
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
        const path = pending.slice(0, end).split(' ')[1]!.replace(/^\/open/, '')
        pending = pending.slice(end + 4)
        paths.push(path)
        writeParts(socket, [ANSWERS[path] ?? 'HTTP/1.1 500 Unscripted\r\nContent-Length: 0\r\n\r\n'].flat())
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths, connections: () => connections }
}

function writeParts (socket: Socket, parts: string[]): void {
  const [part, ...rest] = parts
  if (part === undefined) return
  socket.setNoDelay(true)
  socket.write(part, 'latin1', () => { if (rest.length > 0) setTimeout(() => writeParts(socket, rest), 5) })
}

interface Answer { status: number, headers: Record<string, string>, body: string }

/**
 * Reads answers off a byte stream the way a client does: 1xx heads are answers of their own,
 * a 304 and an answer to HEAD end at their head, others at their Content-Length.
 */
function parseAnswers (text: string, methods: string[]): { answers: Answer[], complete: boolean } {
  const answers: Answer[] = []
  let rest = text
  let finals = 0
  while (finals < methods.length) {
    const end = rest.indexOf('\r\n\r\n')
    if (end === -1) return { answers, complete: false }
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n')
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
    }
    const status = Number(statusLine!.split(' ')[1])
    const bodiless = status < 200 || status === 304 || methods[finals] === 'HEAD'
    const length = bodiless ? 0 : Number(headers['content-length'] ?? 0)
    if (rest.length < end + 4 + length) return { answers, complete: false }
    answers.push({ status, headers, body: rest.slice(end + 4, end + 4 + length) })
    rest = rest.slice(end + 4 + length)
    if (status >= 200) finals++
  }
  return { answers, complete: rest.length === 0 }
}

/**
 * Sends `requests` pipelined on one connection, the last one asking to close it; resolves with
 * everything the gateway wrote until the connection closed.
 */
async function pipelined (baseUrl: string, requests: Array<{ method: string, path: string }>, version = '1.1'): Promise<{ answers: Answer[], complete: boolean, raw: string }> {
  const { hostname, port } = new URL(baseUrl)
  const socket = connect(Number(port), hostname)
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  // A reset is one way a broken answer shows: what arrived before it is judged all the same.
  socket.on('error', () => {})
  socket.write(requests.map(({ method, path }, i) =>
    `${method} ${path} HTTP/${version}\r\nHost: gateway.test\r\n${i === requests.length - 1 ? 'Connection: close\r\n' : ''}\r\n`).join(''))
  await once(socket, 'close')
  const raw = Buffer.concat(chunks).toString('latin1')
  return { ...parseAnswers(raw, requests.map((r) => r.method)), raw }
}

async function setup (t: Test) {
  const upstream = await startScriptedUpstream(t)
  const gw = await startTestGateway(t, { routes: [openRoute(upstream.url)] })
  return { upstream, gw }
}

t.test('103 Early Hints is passed on before the final answer; the pipelined request is answered too', async (t) => {
  const { gw } = await setup(t)
  const { answers, complete, raw } = await pipelined(gw.proxyUrl, [{ method: 'GET', path: '/open/early-hints' }, { method: 'GET', path: '/open/plain' }])
  t.same(answers.map((a) => a.status), [103, 200, 200], raw)
  t.equal(answers[0]?.headers.link, '</style.css>; rel=preload; as=style', 'the hint itself')
  t.equal(answers[1]?.body, 'hello')
  t.equal(answers[1]?.headers['x-request-id']?.length, 36, "the final answer carries the gateway's headers")
  t.equal(answers[2]?.body, 'second')
  t.ok(complete, 'nothing else on the wire')
})

t.test('an HTTP/1.0 client gets no 1xx at all (RFC 9110 §15.2)', async (t) => {
  const { gw } = await setup(t)
  const { answers, raw } = await pipelined(gw.proxyUrl, [{ method: 'GET', path: '/open/early-hints' }], '1.0')
  t.same(answers.map((a) => a.status), [200], raw)
  t.equal(answers[0]?.body, 'hello')
})

t.test('any other 1xx is dropped: 102 Processing and an unsolicited 100 Continue', async (t) => {
  const { gw } = await setup(t)
  for (const path of ['/open/processing', '/open/unsolicited-continue']) {
    const { answers, complete, raw } = await pipelined(gw.proxyUrl, [{ method: 'GET', path }, { method: 'GET', path: '/open/plain' }])
    t.same(answers.map((a) => a.status), [200, 200], `${path}: ${raw}`)
    t.same(answers.map((a) => a.body), ['hello', 'second'], path)
    t.ok(complete, `${path}: nothing else on the wire`)
  }
})

t.test('an unasked 100 is dropped at the start of every answer on a kept upstream connection, and only there', async (t) => {
  const { upstream, gw } = await setup(t)
  for (const path of ['/open/unsolicited-continue', '/open/split-continue', '/open/unsolicited-continue']) {
    const { answers, raw } = await pipelined(gw.proxyUrl, [{ method: 'GET', path }])
    t.same(answers.map((a) => [a.status, a.body]), [[200, 'hello']], `${path}: ${raw}`)
  }
  const inBody = await pipelined(gw.proxyUrl, [{ method: 'GET', path: '/open/continue-in-body' }])
  t.equal(inBody.answers[0]?.body, 'HTTP/1.1 100 Continue\r\n\r\n', 'a body that reads like a 100 is passed on whole')
  t.equal(upstream.connections(), 1, 'all four on one upstream connection')
})

t.test('a 304 declaring a Content-Length passes intact, with no body', async (t) => {
  const { gw } = await setup(t)
  const { answers, complete, raw } = await pipelined(gw.proxyUrl, [{ method: 'GET', path: '/open/not-modified' }, { method: 'GET', path: '/open/plain' }])
  t.same(answers.map((a) => a.status), [304, 200], raw)
  t.equal(answers[0]?.headers['content-length'], '5', "the upstream's Content-Length is kept")
  t.equal(answers[0]?.headers.etag, '"v1"')
  t.equal(answers[1]?.body, 'second', 'the pipelined answer follows the 304 head directly')
  t.ok(complete, 'nothing else on the wire')
})

t.test('an answer to HEAD keeps its Content-Length and has no body', async (t) => {
  const { gw } = await setup(t)
  const { answers, complete, raw } = await pipelined(gw.proxyUrl, [{ method: 'HEAD', path: '/open/head' }, { method: 'GET', path: '/open/plain' }])
  t.same(answers.map((a) => a.status), [200, 200], raw)
  t.equal(answers[0]?.headers['content-length'], '1234')
  t.equal(answers[1]?.body, 'second')
  t.ok(complete, 'nothing else on the wire')
})
