import type { Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** PEM files made at test time by `openssl`, in a temp dir removed by `t`. */
export interface TestCertificates {
  dir: string
  /** The test CA that signed `server`. */
  caFile: string
  /** localhost and 127.0.0.1, signed by the CA. */
  server: { certFile: string, keyFile: string, cert: string, key: string }
  /** A self-signed localhost certificate: no CA vouches for it. */
  selfSigned: CertificatePair
  /** Signed by the CA for another host (`db.other.example`): a host-name mismatch here. */
  wrongHost: CertificatePair
  /** localhost, signed by the CA, expired in 2020. */
  expired: CertificatePair
  /** A client certificate (CN=bookme-gateway) signed by the CA. */
  client: CertificatePair
}

export interface CertificatePair { certFile: string, keyFile: string, cert: string, key: string }

function openssl (dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
const LOCALHOST = 'subjectAltName=DNS:localhost,IP:127.0.0.1'

export function makeCertificates (t: Test): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-certs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  openssl(dir, ['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=BookMe Test CA'])
  openssl(dir, ['req', ...EC, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'])
  writeFileSync(join(dir, 'server.ext'), `${LOCALHOST}\n`)
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext'])
  openssl(dir, ['req', '-x509', ...EC, '-keyout', 'self.key', '-out', 'self.pem', '-days', '2', '-subj', '/CN=localhost', '-addext', LOCALHOST])
  signed(dir, 'wrong', '/CN=db.other.example', 'subjectAltName=DNS:db.other.example')
  signed(dir, 'client', '/CN=bookme-gateway', 'extendedKeyUsage=clientAuth')
  // openssl 3.0's x509 cannot backdate: `openssl ca` can.
  openssl(dir, ['req', ...EC, '-keyout', 'expired.key', '-out', 'expired.csr', '-subj', '/CN=localhost'])
  writeFileSync(join(dir, 'ca.cnf'), '[ca]\ndefault_ca=test\n[test]\ndatabase=index.txt\nnew_certs_dir=.\nserial=ca.srl\ndefault_md=sha256\npolicy=any\nunique_subject=no\n[any]\ncommonName=supplied\n')
  writeFileSync(join(dir, 'index.txt'), '')
  openssl(dir, ['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', 'expired.csr', '-out', 'expired.pem', '-notext',
    '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-extfile', 'server.ext'])
  const pair = (name: string): CertificatePair => ({ certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`), cert: readFileSync(join(dir, `${name}.pem`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') })
  return { dir, caFile: join(dir, 'ca.pem'), server: pair('server'), selfSigned: pair('self'), wrongHost: pair('wrong'), expired: pair('expired'), client: pair('client') }
}

function signed (dir: string, name: string, subject: string, extension: string): void {
  openssl(dir, ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject])
  writeFileSync(join(dir, `${name}.ext`), `${extension}\n`)
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`])
}
