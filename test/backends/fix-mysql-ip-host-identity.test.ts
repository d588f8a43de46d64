import t from 'tap'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createMysqlSource } from '../../src/mappings/mysql-source.js'
import { loadBackendTls } from '../../src/backends/tls.js'
import { classifyBackendFailure } from '../../src/backends/backend-failure.js'
import { makeCertificates, type TestCertificates } from '../helpers/certs.js'
import { startOrganizationsDb } from '../helpers/services.js'
import { readiness, startTestGateway } from '../helpers/gateway.js'
import { eventually } from '../helpers/eventually.js'
import { startUpstream } from '../helpers/upstream.js'
import { authConfig, BANK_TENANT, startIssuer } from '../helpers/issuer.js'

// CONTRACT.md §10, `verify-full` with `mappings.mysql.host` an IP address: the certificate must
// name that address (a SAN IP entry, RFC 6125 §6.2.1 / RFC 5280 §4.2.1.6). mysql2 sends no
// server name for an address (SNI cannot carry one, RFC 6066 §3), and the certificate was then
// checked against `localhost`: a certificate naming only localhost passed for any address, and
// one naming only the address was refused.
const SEED = `INSERT INTO Banks VALUES ('1001', 'Demo Bank', 1); INSERT INTO TenantBanks VALUES ('${BANK_TENANT}', '1001', 1);`

/** A server certificate signed by the test CA, naming exactly `subjectAltName`. */
function serverCertificate (certs: TestCertificates, name: string, subjectAltName: string): { caFile: string, certFile: string, keyFile: string } {
  const run = (args: string[]): void => { execFileSync('openssl', args, { cwd: certs.dir, stdio: ['ignore', 'ignore', 'pipe'] }) }
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`])
  writeFileSync(join(certs.dir, `${name}.ext`), `subjectAltName=${subjectAltName}\n`)
  run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`])
  return { caFile: certs.caFile, certFile: join(certs.dir, `${name}.pem`), keyFile: join(certs.dir, `${name}.key`) }
}

t.test('verify-full checks an IP host against the certificate\'s IP entries, a DNS host against its names', async (t) => {
  const certs = makeCertificates(t)
  const ipOnly = serverCertificate(certs, 'ip-only', 'IP:127.0.0.1')
  const dnsOnly = serverCertificate(certs, 'dns-only', 'DNS:localhost')
  const db = await startOrganizationsDb(t, SEED, { tls: ipOnly })

  async function attempt (host: string): Promise<{ ok: boolean, said: string, mapped: boolean, misconfigured?: boolean }> {
    const tls = { mode: 'verify-full' as const, caFile: certs.caFile }
    const source = createMysqlSource({ host, port: db.port, user: db.user, password: db.password, database: 'bp_organizations_db', connectionLimit: 1, connectTimeoutMs: 2000, queryTimeoutMs: 2000, tls: loadBackendTls('mappings.mysql.tls', tls.mode, tls) })
    try {
      const said = await source.ping()
      return { ok: true, said, mapped: (await source.tenant(BANK_TENANT)) !== null }
    } catch (err) {
      const failure = classifyBackendFailure('mysql', err)
      return { ok: false, said: failure.reason, mapped: false, misconfigured: failure.misconfigured }
    } finally {
      await source.close()
    }
  }

  t.same(await attempt('127.0.0.1'), { ok: true, said: `mysql 127.0.0.1:${db.port}/bp_organizations_db, TLS verified (TLSv1.3)`, mapped: true },
    'a certificate naming only IP:127.0.0.1 serves host 127.0.0.1')

  db.useCertificate(dnsOnly)
  await db.kill()
  await db.restart()
  t.match(await attempt('127.0.0.1'), { ok: false, misconfigured: true, said: /^TLS: host-name mismatch.*IP: 127\.0\.0\.1 is not in the cert's list.*mappings\.mysql\.tls\.mode: verify-ca/ },
    'a certificate naming only DNS:localhost does not vouch for 127.0.0.1')
  t.match(await attempt('0.0.0.0'), { ok: false, misconfigured: true, said: /^TLS: host-name mismatch.*IP: 0\.0\.0\.0 is not in the cert's list/ },
    'nor for 0.0.0.0')
  t.match(await attempt('localhost'), { ok: true, said: /^mysql localhost:\d+\/bp_organizations_db, TLS verified/, mapped: true },
    'a DNS host is still checked against the certificate\'s names')

  // What an operator sees: readiness stays 503, naming MySQL and the mismatch.
  const [issuer, upstream] = await Promise.all([startIssuer(t), startUpstream(t)])
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url),
    mappings: { source: 'mysql', mysql: { host: '127.0.0.1', port: db.port, user: db.user, password: db.password, connectTimeoutMs: 1000, tls: { mode: 'verify-full', caFile: certs.caFile } } }
  }, { ready: false })
  type Dependencies = Record<string, { state: string, detail?: string, misconfigured?: boolean }>
  const ready = await eventually(() => readiness(gw), (r) => (r.body.dependencies as Dependencies | undefined)?.source?.misconfigured === true || r.status === 200, 15_000)
  t.equal(ready.status, 503)
  t.match((ready.body.dependencies as Dependencies).source, { state: 'down', misconfigured: true, detail: /^TLS: host-name mismatch: the server's certificate does not name this host.*127\.0\.0\.1/ })
})
