import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, MULTI_BANK_TENANT, startIssuer } from '../helpers/issuer.js'
import { countTopLevelKey } from '../../src/token/json-keys.js'

// CONTRACT.md §3: exactly one `tid` (IdentityModel IDX40009). JSON.parse keeps the last of two
// equal keys, escaped spellings included, so `{"tid":A,"t\u0069d":B}` is read as B by one parser
// and A by another: the duplicate must be found after unescaping. Signed by the real key, so
// only the duplicate check stands between it and the upstream.
t.test('a second tid spelled with escapes is TOKEN_MALFORMED', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url), { mappings: DEFAULT_MAPPINGS })
  const good = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const [h, p] = good.split('.') as [string, string]
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>
  const claims = Buffer.from(p, 'base64url').toString()
  const withSecond = (spelling: string): string => `${claims.slice(0, -1)},${spelling}:"${MULTI_BANK_TENANT}"}`
  const spellings = ['"t\\u0069d"', '"\\u0074id"', '"\\u0074\\u0069\\u0064"', '"ti\\u0064"', '"tid"', '"tid" ']
  for (const spelling of spellings) {
    const token = issuer.signRaw(header, withSecond(spelling))
    const res = await fetch(`${gw.proxyUrl}/api/meetings`, { headers: { authorization: `Bearer ${token}` } })
    t.equal(res.status, 401, spelling)
    t.equal((await res.json() as { code: string }).code, 'TOKEN_MALFORMED', spelling)
  }
  t.equal(upstream.requests.length, 0, 'nothing reached the upstream')
  const nested = issuer.signRaw(header, `${claims.slice(0, -1)},"ext":{"tid":"x","list":[{"tid":1}]},"note":"\\"tid\\":"}`)
  const res = await fetch(`${gw.proxyUrl}/api/meetings`, { headers: { authorization: `Bearer ${nested}` } })
  t.equal(res.status, 200, 'a tid inside a nested object or a string value is not a second tid')
})

t.test('countTopLevelKey counts keys of the outer object only, unescaped', async (t) => {
  t.equal(countTopLevelKey('{"tid":"a"}', 'tid'), 1)
  t.equal(countTopLevelKey('{"tid":"a","t\\u0069d":"b"}', 'tid'), 2)
  t.equal(countTopLevelKey('{ "tid" : "a" , "x" : { "tid" : 1 } }', 'tid'), 1)
  t.equal(countTopLevelKey('{"a":"\\"tid\\":","b":["tid",{"tid":2}]}', 'tid'), 0)
  t.equal(countTopLevelKey('{"a\\\\":"tid","tid":1}', 'tid'), 1, 'an escaped backslash ends a string')
})
