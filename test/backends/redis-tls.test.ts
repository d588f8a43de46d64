import t from 'tap'
import { createRedisCache } from '../../src/backends/redis-cache.js'
import { redisSettingsFrom } from '../../src/backends/redis-client.js'
import { classifyBackendFailure } from '../../src/backends/backend-failure.js'
import { parseConfig } from '../../src/config/load.js'
import { makeCertificates } from '../helpers/certs.js'
import { startRedis } from '../helpers/services.js'
import { startWireRecorder } from '../helpers/wire-recorder.js'

// Redis over TLS (`rediss://` or a `tls` block) against a real redis-server's tls-port: each
// mode both ways, ACL users, client certificates, and the bytes on the wire after a refusal.

/** The store a `cache.redis` section makes (the same parse and settings the gateway uses). */
function storeFor (redis: Record<string, unknown>) {
  const config = parseConfig({ cache: { store: 'redis', redis: { connectTimeoutMs: 400, ...redis } }, routes: [{ name: 'o', prefix: '/o', upstream: 'http://127.0.0.1:1', auth: 'none' }] })
  if (config.cache.store !== 'redis') throw new Error('not a redis config')
  return createRedisCache(redisSettingsFrom(config.cache.redis))
}

/** Connect, then what answered, or the classified refusal. */
async function attempt (redis: Record<string, unknown>): Promise<{ ok: boolean, said: string, misconfigured?: boolean }> {
  const store = storeFor(redis)
  try {
    await store.ready(1500)
    const said = await store.ping()
    await store.set('k', 'v', 10)
    return { ok: (await store.get('k')) === 'v', said }
  } catch (err) {
    const failure = classifyBackendFailure('redis', err)
    return { ok: false, said: failure.reason, misconfigured: failure.misconfigured }
  } finally {
    await store.close()
  }
}

t.test('rediss:// and tls blocks: every mode both ways, and nothing in plaintext after a refusal', async (t) => {
  const certs = makeCertificates(t)
  const good = await startRedis(t, { tls: certs.server, password: 'pw-good' })
  const wire = await startWireRecorder(t, good.port)
  const via = `rediss://127.0.0.1:${wire.port}`

  t.match(await attempt({ url: via, password: 'pw-good', tls: { caFile: certs.caFile } }), { ok: true, said: new RegExp(`^redis standalone 127\\.0\\.0\\.1:${wire.port} \\(primary\\), TLS verified \\(TLSv1\\.3\\)$`) }, 'verify-full with the CA')
  t.notOk(wire.carried('pw-good'), 'the password only inside TLS')
  wire.forget()
  const unknown = await attempt({ url: via, password: 'pw-good' })
  t.match(unknown, { ok: false, misconfigured: true, said: /^TLS: unknown CA.*check cache\.redis\.tls\.caFile/ }, 'Node\'s bundled CAs do not know the test CA')
  t.notOk(wire.carried('pw-good') || wire.carried('PING') || wire.carried('AUTH'), 'no command in the clear after the refused handshake')
  t.ok(wire.sent.length > 0 && wire.sent.every((bytes) => bytes.length === 0 || bytes[0] === 0x16), 'every connection opened with a TLS handshake record')
  wire.forget()
  t.match(await attempt({ url: via.replace('127.0.0.1', 'localhost'), password: 'pw-good', tls: { caFile: certs.caFile } }), { ok: true }, 'by the name the certificate carries')
  t.match(await attempt({ url: via, password: 'pw-good', tls: { mode: 'required' } }), { ok: true, said: /TLS, certificate not verified/ }, 'required encrypts without checking')
  t.match(await attempt({ url: `redis://127.0.0.1:${wire.port}`, password: 'pw-good', tls: { caFile: certs.caFile } }), { ok: true, said: /TLS verified/ }, 'a tls block turns TLS on for a redis:// URL too')
  t.match(await attempt({ url: via, password: 'wrong', tls: { caFile: certs.caFile } }), { ok: false, misconfigured: true, said: /WRONGPASS.*check cache\.redis\.username and password/ }, 'a wrong password is a configuration problem')

  const wrongHost = await startRedis(t, { tls: certs.wrongHost })
  t.match(await attempt({ url: `rediss://127.0.0.1:${wrongHost.port}`, tls: { caFile: certs.caFile } }), { ok: false, misconfigured: true, said: /^TLS: host-name mismatch.*cache\.redis\.tls\.servername/ })
  t.match(await attempt({ url: `rediss://127.0.0.1:${wrongHost.port}`, tls: { caFile: certs.caFile, servername: 'db.other.example' } }), { ok: true }, 'servername names the host the certificate is for')
  t.match(await attempt({ url: `rediss://127.0.0.1:${wrongHost.port}`, tls: { caFile: certs.caFile, mode: 'verify-ca' } }), { ok: true }, 'verify-ca: the chain is enough')

  const expired = await startRedis(t, { tls: certs.expired })
  t.match(await attempt({ url: `rediss://127.0.0.1:${expired.port}`, tls: { caFile: certs.caFile } }), { ok: false, misconfigured: true, said: /^TLS: the server's certificate has expired/ })
  t.match(await attempt({ url: `rediss://127.0.0.1:${expired.port}`, tls: { caFile: certs.caFile, mode: 'verify-ca' } }), { ok: false, said: /has expired/ })

  const plain = await startRedis(t, { password: 'pw-plain' })
  const plainWire = await startWireRecorder(t, plain.port)
  const noTls = await attempt({ url: `rediss://127.0.0.1:${plainWire.port}`, password: 'pw-plain', tls: { caFile: certs.caFile } })
  t.match(noTls, { ok: false, misconfigured: true, said: /^TLS: the server does not speak TLS/ }, 'a server without TLS')
  t.notOk(plainWire.carried('pw-plain'), 'and the password never went to it in the clear')
  t.match(await attempt({ url: `redis://127.0.0.1:${plainWire.port}`, password: 'pw-plain' }), { ok: true, said: /TLS off$/ }, 'redis:// without a tls block: plaintext, as asked')
  t.ok(plainWire.carried('pw-plain'), 'and the recorder does see a plaintext AUTH (it would have caught one above)')
})

t.test('ACL users and client certificates', async (t) => {
  const certs = makeCertificates(t)
  const redis = await startRedis(t, { tls: certs.server, clientCaFile: certs.caFile, aclUsers: [{ name: 'bookme-gw', password: 'gw-secret', rules: '~bookme:gw:* &bookme:gw:* +@all' }] })
  const url = `rediss://127.0.0.1:${redis.port}`
  const clientTls = { caFile: certs.caFile, certFile: certs.client.certFile, keyFile: certs.client.keyFile }
  t.match(await attempt({ url, username: 'bookme-gw', password: 'gw-secret', keyPrefix: 'other:', tls: clientTls }), { ok: false, said: /NOPERM|No permissions/ }, 'the ACL user may not touch keys outside its prefix')
  t.match(await attempt({ url, username: 'bookme-gw', password: 'gw-secret', keyPrefix: 'bookme:gw:', tls: clientTls }), { ok: true }, 'inside its prefix it may')
  t.match(await attempt({ url, username: 'bookme-gw', password: 'nope', keyPrefix: 'bookme:gw:', tls: clientTls }), { ok: false, misconfigured: true, said: /WRONGPASS/ })
  const noCertificate = await attempt({ url, username: 'bookme-gw', password: 'gw-secret', keyPrefix: 'bookme:gw:', tls: { caFile: certs.caFile } })
  t.match(noCertificate, { ok: false }, 'a server that requires a client certificate refuses a client without one')
})
