import t from 'tap'
import { createMysqlSource } from '../../src/mappings/mysql-source.js'
import { loadBackendTls } from '../../src/backends/tls.js'
import { classifyBackendFailure } from '../../src/backends/backend-failure.js'
import type { TlsConfig } from '../../src/config/schema.js'
import { makeCertificates } from '../helpers/certs.js'
import { startOrganizationsDb } from '../helpers/services.js'
import { startWireRecorder } from '../helpers/wire-recorder.js'
import { BANK_TENANT } from '../helpers/issuer.js'

// Each TLS mode against a real MariaDB serving a good, a wrong-host, an expired and a
// self-signed certificate, and no TLS at all: what is accepted, what is refused and how the
// refusal reads. The bytes on the wire show a refused handshake never retries in plaintext.
const SEED = `INSERT INTO Banks VALUES ('1001', 'Demo Bank', 1); INSERT INTO TenantBanks VALUES ('${BANK_TENANT}', '1001', 1);`

t.test('every mode both ways, against every certificate, and never plaintext after a refusal', async (t) => {
  const certs = makeCertificates(t)
  const serverTls = (pair: { certFile: string, keyFile: string }) => ({ caFile: certs.caFile, certFile: pair.certFile, keyFile: pair.keyFile })
  const db = await startOrganizationsDb(t, SEED, { tls: serverTls(certs.server) })
  const wire = await startWireRecorder(t, db.port)

  /** One connection attempt through the recorder: what answered, or the classified refusal. */
  async function attempt (tls: TlsConfig & { mode: NonNullable<TlsConfig['mode']> }): Promise<{ ok: boolean, said: string, mapped: boolean }> {
    const source = createMysqlSource({ host: '127.0.0.1', port: wire.port, user: db.user, password: db.password, database: 'bp_organizations_db', connectionLimit: 1, connectTimeoutMs: 2000, queryTimeoutMs: 2000, tls: loadBackendTls('mappings.mysql.tls', tls.mode, tls) })
    try {
      const said = await source.ping()
      return { ok: true, said, mapped: (await source.tenant(BANK_TENANT)) !== null }
    } catch (err) {
      const failure = classifyBackendFailure('mysql', err)
      t.ok(failure.misconfigured, `a refused handshake is a configuration problem: ${failure.reason}`)
      return { ok: false, said: failure.reason, mapped: false }
    } finally {
      await source.close()
    }
  }
  const noPlaintext = (label: string): void => {
    t.notOk(wire.carried(db.user), `${label}: the user name never crossed the wire in the clear`)
    wire.forget()
  }

  const good = await attempt({ mode: 'verify-full', caFile: certs.caFile })
  t.same(good, { ok: true, said: `mysql 127.0.0.1:${wire.port}/bp_organizations_db, TLS verified (TLSv1.3)`, mapped: true }, 'verify-full with the CA: the server reports the TLS session')
  noPlaintext('verify-full, accepted')
  const bundled = await attempt({ mode: 'verify-full' })
  t.match(bundled, { ok: false, said: /^TLS: unknown CA.*; check mappings\.mysql\.tls\.caFile/ }, 'Node\'s bundled CAs do not know the test CA')
  noPlaintext('unknown CA')
  t.match(await attempt({ mode: 'verify-ca' }), { ok: false, said: /^TLS: unknown CA/ }, 'verify-ca checks the chain too')
  t.match(await attempt({ mode: 'required' }), { ok: true, said: /TLS, certificate not verified \(TLSv1\.3\)$/ }, 'required encrypts without checking')

  db.useCertificate(serverTls(certs.wrongHost))
  await db.kill()
  await db.restart()
  t.match(await attempt({ mode: 'verify-full', caFile: certs.caFile }), { ok: false, said: /^TLS: host-name mismatch.*mappings\.mysql\.tls\.mode: verify-ca/ }, 'a certificate for another host')
  noPlaintext('host-name mismatch')
  t.match(await attempt({ mode: 'verify-ca', caFile: certs.caFile }), { ok: true, mapped: true }, 'verify-ca: the chain is enough')

  db.useCertificate(serverTls(certs.expired))
  await db.kill()
  await db.restart()
  t.match(await attempt({ mode: 'verify-full', caFile: certs.caFile }), { ok: false, said: /^TLS: the server's certificate has expired/ })
  t.match(await attempt({ mode: 'verify-ca', caFile: certs.caFile }), { ok: false, said: /has expired/ })
  noPlaintext('expired')

  db.useCertificate(serverTls(certs.selfSigned))
  await db.kill()
  await db.restart()
  t.match(await attempt({ mode: 'verify-full', caFile: certs.caFile }), { ok: false, said: /^TLS: unknown CA/ }, 'self-signed')
  noPlaintext('self-signed')

  db.useCertificate(undefined)
  await db.kill()
  await db.restart()
  for (const mode of ['verify-full', 'verify-ca', 'required'] as const) {
    t.match(await attempt({ mode, caFile: certs.caFile }), { ok: false, said: /^TLS: the server does not speak TLS/ }, `${mode} against a server without TLS`)
    noPlaintext(`${mode}, server without TLS`)
  }
  t.match(await attempt({ mode: 'disabled' }), { ok: true, said: /, TLS off$/, mapped: true }, 'disabled: plaintext, as asked')
  t.ok(wire.carried(db.user), 'and the recorder does see a plaintext login (it would have caught one above)')
})

t.test('a client certificate where the user requires one', async (t) => {
  const certs = makeCertificates(t)
  const db = await startOrganizationsDb(t, SEED, { tls: { caFile: certs.caFile, certFile: certs.server.certFile, keyFile: certs.server.keyFile } })
  db.sql(`ALTER USER '${db.user}'@'127.0.0.1' REQUIRE X509; FLUSH PRIVILEGES;`)
  const connect = async (tls: TlsConfig): Promise<string> => {
    const source = createMysqlSource({ host: '127.0.0.1', port: db.port, user: db.user, password: db.password, database: 'bp_organizations_db', connectionLimit: 1, connectTimeoutMs: 2000, queryTimeoutMs: 2000, tls: loadBackendTls('mappings.mysql.tls', 'verify-full', tls) })
    try {
      return await source.ping()
    } catch (err) {
      const failure = classifyBackendFailure('mysql', err)
      return `${failure.misconfigured ? 'misconfigured' : 'outage'}: ${failure.reason}`
    } finally {
      await source.close()
    }
  }
  t.match(await connect({ caFile: certs.caFile }), /^misconfigured: Access denied.*; check mappings\.mysql\.user, password/, 'without a client certificate: refused, as configuration')
  t.match(await connect({ caFile: certs.caFile, certFile: certs.client.certFile, keyFile: certs.client.keyFile }), /TLS verified/, 'with it: in')
})

t.test('certificate files: read at start, each problem a config error naming the key', async (t) => {
  const certs = makeCertificates(t)
  const problems = (tls: TlsConfig): string[] => {
    try {
      loadBackendTls('mappings.mysql.tls', 'verify-full', tls)
      return []
    } catch (err) {
      return (err as { problems: string[] }).problems
    }
  }
  t.same(problems({ caFile: '/nonexistent/ca.pem' }), ['mappings.mysql.tls.caFile: cannot read /nonexistent/ca.pem (ENOENT)'])
  t.same(problems({ caFile: certs.server.keyFile }), [`mappings.mysql.tls.caFile: ${certs.server.keyFile} holds no PEM certificate`])
  t.same(problems({ certFile: certs.client.certFile, keyFile: certs.server.keyFile }), [`mappings.mysql.tls.keyFile: ${certs.server.keyFile} is not the key of ${certs.client.certFile}`])
  t.same(problems({ certFile: certs.client.certFile, keyFile: certs.caFile }), [`mappings.mysql.tls.keyFile: ${certs.caFile} holds no unencrypted PEM private key`])
  t.same(problems({ caFile: certs.caFile, certFile: certs.client.certFile, keyFile: certs.client.keyFile }), [])
})
