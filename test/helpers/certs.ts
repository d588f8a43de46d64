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
  selfSigned: { certFile: string, keyFile: string, cert: string, key: string }
}

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
  const pair = (cert: string, key: string) => ({ certFile: join(dir, cert), keyFile: join(dir, key), cert: readFileSync(join(dir, cert), 'utf8'), key: readFileSync(join(dir, key), 'utf8') })
  return { dir, caFile: join(dir, 'ca.pem'), server: pair('server.pem', 'server.key'), selfSigned: pair('self.pem', 'self.key') }
}
