import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadAssertionKeys } from '../../src/assertion/keys.js'
import { helm, helmAsync, manifestOf, parseManifests, templateArgs, type Manifest, type RenderOptions } from '../helpers/helm-render.js'
import { startFakeCluster } from '../helpers/helm-fake-cluster.js'

// CONTRACT.md §16: the assertion key is never made anew by a render. The chart reads it from a
// Secret (assertionKey.existingSecret), or, asked to generate, keeps the one it made (resource
// policy keep, found again by `lookup`); a render no cluster answers cannot find it, so it fails
// instead of signing with a second key under the same kid.
const RELEASE = 'ci'
const NAMESPACE = 'bookme'
const GENERATED = `${RELEASE}-bookme-gateway-assertion`
const keyOf = (manifests: Manifest[]): string | undefined => (manifests.find((m) => m.kind === 'Secret' && m.metadata.name === GENERATED) as { data?: Record<string, string> } | undefined)?.data?.['assertion.pem']
const renderAsync = async (options: RenderOptions): Promise<Manifest[]> => {
  const result = await helmAsync(templateArgs(options))
  if (result.status !== 0) throw new Error(`helm template failed:\n${result.stderr}`)
  return parseManifests(result.stdout)
}
const withKeys = { 'assertionKey.create': true, 'config.assertion.keys': [{ kid: 'k1', privateKeyFile: '/etc/bookme-gateway/keys/assertion.pem' }] }

t.test('a render no cluster answers (helm template, GitOps) refuses to make a key and says what to do', async (t) => {
  const result = helm(templateArgs({ namespace: NAMESPACE, set: withKeys }))
  t.not(result.status, 0, 'helm template fails')
  t.notMatch(result.stdout, /assertion\.pem:/, 'no key was rendered')
  t.match(result.stderr, /assertionKey\.create: no cluster answered this render/)
  t.match(result.stderr, /assertionKey\.existingSecret/)
  t.match(result.stderr, 'openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out 2026-12.pem')
  t.match(result.stderr, `kubectl -n ${NAMESPACE} create secret generic ${GENERATED}-2026-12 --from-file=2026-12.pem`)
})

t.test('with a cluster: the first install makes one key and keeps it; every later render reads that key back', async (t) => {
  const cluster = await startFakeCluster(t, NAMESPACE)
  const first = await renderAsync({ namespace: NAMESPACE, set: withKeys, args: cluster.helmArgs })
  t.ok(cluster.requests.includes(`GET /api/v1/namespaces/${NAMESPACE}/secrets/${GENERATED}`), 'looked the Secret up in the cluster')
  const secret = manifestOf(first, 'Secret', GENERATED)
  t.equal(secret.metadata.annotations?.['helm.sh/resource-policy'], 'keep', 'kept on uninstall')
  const pem = Buffer.from(keyOf(first) ?? '', 'base64').toString('utf8')
  const dir = mkdtempSync(join(tmpdir(), 'bookme-key-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'assertion.pem'), pem)
  t.equal(loadAssertionKeys({ issuer: 'x', ttlSec: 60, keys: [{ kid: 'k1', privateKeyFile: join(dir, 'assertion.pem') }] }).length, 1, 'an EC P-256 key the gateway loads')

  // As installed: the Secret is in the cluster, owned by the release.
  cluster.secrets.set(`${NAMESPACE}/${GENERATED}`, {
    metadata: { name: GENERATED, namespace: NAMESPACE, labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { 'meta.helm.sh/release-name': RELEASE, 'meta.helm.sh/release-namespace': NAMESPACE, 'helm.sh/resource-policy': 'keep' } },
    data: { 'assertion.pem': keyOf(first)! }
  })
  for (const upgrade of [1, 2]) t.equal(keyOf(await renderAsync({ namespace: NAMESPACE, set: withKeys, args: cluster.helmArgs })), keyOf(first), `render ${upgrade} after the install: the same key`)

  // A Secret of that name that holds no key of the chart's: never overwritten.
  cluster.secrets.set(`${NAMESPACE}/${GENERATED}`, { metadata: { name: GENERATED, namespace: NAMESPACE }, data: { 'other.pem': keyOf(first)! } })
  const foreign = await helmAsync(templateArgs({ namespace: NAMESPACE, set: withKeys, args: cluster.helmArgs }))
  t.not(foreign.status, 0)
  t.match(foreign.stderr, `Secret ${GENERATED} exists but holds no assertion.pem`)
})

t.test('existingSecret: no key in the manifests, the same output on every render, the Secret mounted private to the pod\'s group', async (t) => {
  const set = { 'assertionKey.existingSecret': 'gw-keys', 'config.assertion.keys': [{ kid: '2026-12', privateKeyFile: '/etc/bookme-gateway/keys/2026-12.pem' }] }
  const first = helm(templateArgs({ set }))
  t.equal(first.status, 0, first.stderr)
  t.equal(helm(templateArgs({ set })).stdout, first.stdout, 'two renders are identical')
  const manifests = parseManifests(first.stdout)
  t.notOk(manifests.some((m) => m.kind === 'Secret' && /PRIVATE KEY/.test(Buffer.from(String(Object.values((m as { data?: Record<string, string> }).data ?? {})[0] ?? ''), 'base64').toString())), 'no private key rendered')
  const volume = manifestOf<{ spec: { template: { spec: { volumes: Array<{ name: string, projected?: unknown }> } } } }>(manifests, 'Deployment').spec.template.spec.volumes.find((v) => v.name === 'assertion-keys')
  t.same(volume?.projected, { defaultMode: 0o440, sources: [{ secret: { name: 'gw-keys' } }] })
})

t.test('config.assertion.keys in the keys folder with no Secret to mount there fails the render, naming the fix', async (t) => {
  const result = helm(templateArgs({ set: { 'config.assertion.keys': [{ kid: 'k', privateKeyFile: '/etc/bookme-gateway/keys/k.pem' }] } }))
  t.not(result.status, 0)
  t.match(result.stderr, /config\.assertion\.keys: \/etc\/bookme-gateway\/keys\/k\.pem is in \/etc\/bookme-gateway\/keys.*set assertionKey\.existingSecret/)
})

t.test('NOTES give the commands that make a key Secret, and the rotation steps', async (t) => {
  const notes = (set: Record<string, unknown>): string => {
    const result = helm(['install', ...templateArgs({ set, namespace: NAMESPACE }).slice(1), '--dry-run=client'])
    t.equal(result.status, 0, result.stderr)
    return result.stdout.slice(result.stdout.indexOf('NOTES:'))
  }
  const off = notes({})
  t.match(off, 'openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out 2026-12.pem')
  t.match(off, `kubectl -n ${NAMESPACE} create secret generic ${GENERATED}-2026-12 --from-file=2026-12.pem`)
  const on = notes({ 'assertionKey.existingSecret': 'gw-keys', 'config.assertion.keys': [{ kid: '2026-12', privateKeyFile: '/etc/bookme-gateway/keys/2026-12.pem' }] })
  t.match(on, /Signing keys: gw-keys, mounted together at \/etc\/bookme-gateway\/keys/)
  t.match(on, /1\. Make the new key in a Secret of its own[\s\S]*assertionKey\.additionalSecrets[\s\S]*SECOND[\s\S]*2\. Wait at least 300 s[\s\S]*FIRST[\s\S]*3\. After config\.assertion\.ttlSec/)
})
