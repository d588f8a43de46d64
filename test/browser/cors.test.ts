import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway, untilReady } from '../helpers/gateway.js'
import { authConfig, DEFAULT_MAPPINGS, MGMT_CLIENT, MULTI_BANK_TENANT, startIssuer } from '../helpers/issuer.js'
import { browserMissing, launchBrowser, startPageOrigin } from '../helpers/browser.js'

// CORS as a browser enforces it (CONTRACT.md §8): a page of a listed origin calls the gateway
// with a bearer token and the bank-selection header — a preflighted request — and reads the
// answers; the same page from any other origin is refused by the browser itself.

/** The page's script: each call's status, exposed request id and JSON body, or the fetch error. */
const PAGE = `<!doctype html>
<title>bank switcher</title>
<script>
async function callGateway (gateway, token, bank) {
  const calls = {
    api: [gateway + '/api/meetings/x', { method: 'POST', body: '{"title":"review"}', headers: { 'content-type': 'application/json' } }],
    me: [gateway + '/_gateway/me', {}]
  }
  const results = {}
  for (const [name, [url, init]] of Object.entries(calls)) {
    try {
      const res = await fetch(url, { ...init, headers: { ...init.headers, authorization: 'Bearer ' + token, 'x-bank-context': bank } })
      results[name] = { status: res.status, requestId: res.headers.get('x-request-id'), body: await res.json() }
    } catch (error) {
      results[name] = { error: String(error) }
    }
  }
  return results
}
async function fetchText (url) {
  try {
    const res = await fetch(url)
    return { status: res.status, body: await res.text() }
  } catch (error) {
    return { error: String(error) }
  }
}
</script>`

interface CallResult { status?: number, requestId?: string | null, body?: Record<string, unknown>, error?: string }

t.test('a listed origin calls the API and /_gateway/me from the browser; another origin is refused', { skip: browserMissing() }, async (t) => {
  const [issuer, upstream, listed, unlisted, browser] = await Promise.all([
    startIssuer(t), startUpstream(t), startPageOrigin(t, PAGE), startPageOrigin(t, PAGE), launchBrowser(t)
  ])
  const gw = await startTestGateway(t, { ...authConfig(issuer, upstream.url), cors: { origins: [listed] } }, { mappings: DEFAULT_MAPPINGS })
  await untilReady(gw)
  const token = issuer.mint({ tenantId: MULTI_BANK_TENANT, audience: MGMT_CLIENT, claims: { roles: ['Employee'], preferred_username: 'max@bank.example' } })

  const context = await browser.newContext()
  const callFrom = async (origin: string): Promise<Record<'api' | 'me', CallResult>> => {
    const page = await context.newPage()
    await page.goto(`${origin}/`)
    return await page.evaluate(([gateway, bearer]) => (globalThis as unknown as { callGateway: (...args: string[]) => Promise<Record<'api' | 'me', CallResult>> }).callGateway(gateway!, bearer!, '2001'), [gw.proxyUrl, token])
  }

  const fromListed = await callFrom(listed)
  t.match(fromListed.api, { status: 200, requestId: /^[0-9a-f-]{36}$/ }, `the API call succeeds, its request id readable: ${fromListed.api.status ?? fromListed.api.error}`)
  t.match(fromListed.api.body, { method: 'POST', bodyBytes: 18, headers: { 'x-bookme-bank-id': '2001', 'x-bookme-user-name': 'max@bank.example' } }, 'the upstream saw the chosen bank')
  t.match(fromListed.me, { status: 200, body: { activeBankId: '2001', bankIds: ['2001', '2002'], api: 'management' } }, `/_gateway/me succeeds: ${fromListed.me.status ?? fromListed.me.error}`)
  const proxied = upstream.requests.length
  t.equal(proxied, 1)

  const fromUnlisted = await callFrom(unlisted)
  t.match(fromUnlisted.api, { error: /TypeError/ }, `the browser refuses the API call: ${JSON.stringify(fromUnlisted.api)}`)
  t.match(fromUnlisted.me, { error: /TypeError/ }, `and /_gateway/me: ${JSON.stringify(fromUnlisted.me)}`)
  t.equal(upstream.requests.length, proxied, 'the refused preflight kept the API call from being sent at all')
})

t.test("the browser's cache never hands an answer stored without an Origin to the listed origin", { skip: browserMissing() }, async (t) => {
  const [upstream, listed, browser] = await Promise.all([
    startUpstream(t, (_req, res) => {
      res.setHeader('cache-control', 'max-age=600')
      res.setHeader('vary', 'Accept-Encoding')
      res.end('catalog')
    }),
    startPageOrigin(t, PAGE), launchBrowser(t)
  ])
  const gw = await startTestGateway(t, { routes: [{ name: 'catalog', prefix: '/catalog', upstream: upstream.url, auth: 'none' }], cors: { origins: [listed] } })
  // One context, so one HTTP cache for both pages (127.0.0.1 is one site, whatever the port).
  const context = await browser.newContext()
  // Opened directly, the answer is asked for without an Origin, so without CORS headers; the
  // browser stores it.
  const opened = await (await context.newPage()).goto(`${gw.proxyUrl}/catalog`)
  t.equal(opened?.status(), 200)
  t.equal(upstream.requests.length, 1)
  const page = await context.newPage()
  await page.goto(`${listed}/`)
  const fromListed = await page.evaluate((url) => (globalThis as unknown as { fetchText: (url: string) => Promise<CallResult> }).fetchText(url), `${gw.proxyUrl}/catalog`)
  t.match(fromListed, { status: 200, body: 'catalog' }, `the listed origin's fetch is not handed the stored answer: ${fromListed.status ?? fromListed.error}`)
  t.equal(upstream.requests.length, 2, 'it was asked of the upstream again, with the Origin')
})
