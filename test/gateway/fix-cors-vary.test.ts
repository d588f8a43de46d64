import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, untilReady } from '../helpers/gateway.js'
import { rawRequest } from '../helpers/raw-http.js'
import { MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

// With cors.origins set, an answer's CORS headers depend on the request's Origin, so a shared
// cache must key every answer of the proxy port on it (Fetch standard §3.2.5 "CORS protocol and
// HTTP caches"): `Origin` is added to the upstream's `Vary`, never put in its place, and on the
// answers to requests without an Origin or from an unlisted one too — else a cache fills with
// an answer that carries no CORS headers and serves it to the listed origin, or the reverse.
const UI = 'https://ui.bank.example'

async function setup (t: Parameters<typeof startUpstream>[0], cors: Record<string, unknown> = { origins: [UI] }) {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t, (req, res) => {
    const vary = new URL(req.url!, 'http://upstream').searchParams.getAll('vary')
    if (vary.length > 0) res.setHeader('vary', vary)
    res.end('ok')
  })
  const gw = await startTestGateway(t, {
    cors,
    entra: { authority: issuer.url },
    apis: { management: { clientId: MGMT_CLIENT } },
    routes: [
      { name: 'open', prefix: '/open', upstream: upstream.url, auth: 'none' },
      { name: 'locked', prefix: '/locked', upstream: upstream.url, api: 'management' }
    ]
  })
  await untilReady(gw)
  const send = (method: string, path: string, origin: string | null, extra: string[] = []) => rawRequest(gw.proxyUrl,
    [`${method} ${path} HTTP/1.1`, 'Host: gateway.test', ...(origin === null ? [] : [`Origin: ${origin}`]), ...extra, 'Connection: close', '', ''].join('\r\n'))
  return { gw, send }
}

t.test("Origin joins the upstream's Vary on a proxied answer, whatever the request's Origin", async (t) => {
  const { send } = await setup(t)
  for (const origin of [UI, 'https://evil.example', null]) {
    const who = origin ?? 'no Origin'
    t.equal((await send('GET', '/open/x?vary=Accept-Encoding', origin)).headers.vary, 'Accept-Encoding, Origin', `${who}: merged, not replaced`)
    t.equal((await send('GET', '/open/x', origin)).headers.vary, 'Origin', `${who}: added where the upstream sent none`)
    t.equal((await send('GET', '/open/x?vary=accept-language,%20origin', origin)).headers.vary, 'accept-language, origin', `${who}: named once`)
    t.equal((await send('GET', '/open/x?vary=*', origin)).headers.vary, '*', `${who}: * stays *`)
  }
  const repeated = await send('GET', '/open/x?vary=Accept&vary=Accept-Encoding', UI)
  t.equal(repeated.headers.vary, 'Accept, Accept-Encoding, Origin', 'repeated Vary fields folded into one')
  t.equal(repeated.headers['access-control-allow-origin'], UI, 'the CORS answer headers still come with it')
})

t.test("the gateway's own answers carry Vary: Origin, with or without an Origin", async (t) => {
  const { send } = await setup(t)
  for (const origin of [UI, 'https://evil.example', null]) {
    const who = origin ?? 'no Origin'
    const answers = {
      refusal: await send('GET', '/locked/x', origin),
      'not found': await send('GET', '/nowhere', origin),
      me: await send('GET', '/_gateway/me', origin),
      preflight: await send('OPTIONS', '/locked/x', origin, ['Access-Control-Request-Method: PUT'])
    }
    t.same(Object.values(answers).map((res) => res.status), [401, 404, 401, origin === null ? 401 : 204], who)
    for (const [kind, res] of Object.entries(answers)) t.equal(res.headers.vary, 'Origin', `${who}: ${kind}`)
  }
})

t.test('without cors.origins nothing is added to Vary', async (t) => {
  const { send } = await setup(t, { origins: [] })
  t.equal((await send('GET', '/open/x?vary=Accept-Encoding', UI)).headers.vary, 'Accept-Encoding')
  t.equal((await send('GET', '/open/x', UI)).headers.vary, undefined)
  t.equal((await send('GET', '/locked/x', UI)).headers.vary, undefined)
})
