/**
 * The gateway reads a token's header and claims before the signature with its own decoder, and
 * fast-jwt verifies with its own: whatever the gateway's accepts, fast-jwt's reads the same, so
 * no check before the signature looks at other claims than the ones verified (ENTRA.md §4.12).
 */
import t from 'tap'
import { createDecoder } from 'fast-jwt'
import { decodeToken } from '../../src/token/entra-token.js'

const fastJwtDecode = createDecoder({ complete: true })
const b64 = (value: string | Buffer): string => Buffer.from(value).toString('base64url')
const header = b64(JSON.stringify({ alg: 'RS256', kid: 'k1', typ: 'JWT' }))
const payload = b64(JSON.stringify({ tid: '11111111-1111-4111-8111-111111111111', aud: 'api://x', exp: 2_000_000_000, name: 'Zoë Ünal' }))
const signature = b64(Buffer.alloc(256, 7))

const inputs: Array<[string, string]> = [
  ['a well-formed token', `${header}.${payload}.${signature}`],
  ['a byte-order mark before the header JSON', `${b64(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"alg":"RS256"}')]))}.${payload}.${signature}`],
  ['invalid UTF-8 in the payload', `${header}.${b64(Buffer.concat([Buffer.from('{"tid":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]))}.${signature}`],
  ['a payload segment one character too long (length ≡ 1 mod 4)', `${header}.${payload.length % 4 === 0 ? payload + 'A' : payload.slice(0, payload.length - (payload.length % 4) + 1)}.${signature}`],
  ['spare bits set in the payload', `${header}.${payload.slice(0, -1)}${String.fromCharCode(payload.charCodeAt(payload.length - 1) + 1)}.${signature}`],
  ['spare bits set in the signature', `${header}.${payload}.${signature.slice(0, -1)}B`],
  ['padding', `${header}=.${payload}.${signature}`],
  ['whitespace', `${header}.${payload} .${signature}`],
  ['the standard alphabet', `${header}.${payload.replace(/-|$/, '+')}.${signature}`],
  ['an array payload', `${header}.${b64('[{"tid":"x"}]')}.${signature}`],
  ['a null header', `${b64('null')}.${payload}.${signature}`],
  ['a string payload', `${header}.${b64('"tid"')}.${signature}`],
  ['duplicate keys', `${header}.${b64('{"tid":"a","tid":"b"}')}.${signature}`],
  ['escaped key names', `${header}.${b64('{"t\\u0069d":"a","aud":"\\u0041"}')}.${signature}`],
  ['two segments', `${header}.${payload}`],
  ['four segments', `${header}.${payload}.${signature}.${signature}`],
  ['an empty header', `.${payload}.${signature}`],
  ['an empty payload', `${header}..${signature}`],
  ['an empty signature', `${header}.${payload}.`]
]

t.test('what the gateway decodes before the signature, fast-jwt decodes alike', async (t) => {
  let accepted = 0
  for (const [name, token] of inputs) {
    let ours: ReturnType<typeof decodeToken> | undefined
    try { ours = decodeToken(token) } catch (err) {
      t.match(err, { code: 'TOKEN_MALFORMED' }, `${name}: refused as malformed`)
    }
    let theirs: { header: unknown, payload: unknown } | undefined
    try { theirs = fastJwtDecode(token) as { header: unknown, payload: unknown } } catch {}
    if (ours === undefined) continue
    accepted++
    t.ok(theirs, `${name}: fast-jwt decodes what the gateway accepted`)
    t.same(ours.header, theirs?.header, `${name}: the same header`)
    t.same(ours.payload, theirs?.payload, `${name}: the same claims`)
    t.equal(ours.payloadText, Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'), `${name}: the payload text scanned for a second tid is the payload's`)
  }
  t.ok(accepted >= 5, `the inputs include ones both accept (${accepted})`)
})

t.test('the gateway refuses what fast-jwt refuses, and a signature with spare bits set', async (t) => {
  t.throws(() => decodeToken(`${header}.${payload}.${signature.slice(0, -1)}B`), { code: 'TOKEN_MALFORMED' })
  for (const [name, token] of inputs) {
    let fastJwtRefuses = false
    try { fastJwtDecode(token) } catch { fastJwtRefuses = true }
    if (fastJwtRefuses) t.throws(() => decodeToken(token), { code: 'TOKEN_MALFORMED' }, `${name}: refused by both`)
  }
})
