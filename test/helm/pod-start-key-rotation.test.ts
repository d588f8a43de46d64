import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { helmAsync, parseManifests, renderChart, templateArgs, type Manifest } from '../helpers/helm-render.js'
import { startFakeCluster } from '../helpers/helm-fake-cluster.js'
import { startIssuer } from '../helpers/issuer.js'
import { localAddresses, podStartsReady } from '../helpers/pod-run.js'

// The assertion key rotation of the chart README ("Rotating the assertion key", CONTRACT.md §11
// and §16), step by step: each step's render starts a pod that gets ready and publishes the keys
// that step lists. The old key's file stays mounted until no config names it, so no step stops a
// pod (before, the NOTES swapped the Secret and the pod exited 78 on the missing file).
const KEYS = '/etc/bookme-gateway/keys'

/** A key made by the command the NOTES and README give. */
function makeKey (t: Test, kid: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-key-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  execFileSync('sh', ['-c', `openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out ${kid}.pem`], { cwd: dir })
  return readFileSync(join(dir, `${kid}.pem`), 'utf8')
}

const key = (kid: string, file = `${kid}.pem`) => ({ kid, privateKeyFile: `${KEYS}/${file}` })

async function startsPublishing (t: Test, manifests: Manifest[], secrets: Record<string, Record<string, string>>, kids: string[]): Promise<void> {
  await podStartsReady(t, { manifests, secrets }, async (pod) => {
    const jwks = await (await fetch(`http://127.0.0.1:${pod.ports.admin}/jwks.json`)).json() as { keys: Array<{ kid: string }> }
    t.same(jwks.keys.map((k) => k.kid), kids, `publishes ${kids.join(', ')}`)
  })
}

t.test('own keys in Secrets of their own: every step of the rotation starts a pod', async (t) => {
  const issuer = await startIssuer(t)
  const addresses = await localAddresses(issuer)
  const secrets = {
    'gw-assertion-2026-12': { '2026-12.pem': makeKey(t, '2026-12') },
    'gw-assertion-2027-06': { '2027-06.pem': makeKey(t, '2027-06') }
  }
  const steps: Array<[string, Record<string, unknown>, string[]]> = [
    ['installed: one key', { 'assertionKey.existingSecret': 'gw-assertion-2026-12', 'config.assertion.keys': [key('2026-12')] }, ['2026-12']],
    ['1. the new key\'s Secret added, the key listed second', { 'assertionKey.existingSecret': 'gw-assertion-2026-12', 'assertionKey.additionalSecrets': ['gw-assertion-2027-06'], 'config.assertion.keys': [key('2026-12'), key('2027-06')] }, ['2026-12', '2027-06']],
    ['2. the new key moved first', { 'assertionKey.existingSecret': 'gw-assertion-2026-12', 'assertionKey.additionalSecrets': ['gw-assertion-2027-06'], 'config.assertion.keys': [key('2027-06'), key('2026-12')] }, ['2027-06', '2026-12']],
    ['3. the old key and its Secret removed', { 'assertionKey.existingSecret': 'gw-assertion-2027-06', 'config.assertion.keys': [key('2027-06')] }, ['2027-06']]
  ]
  for (const [step, set, kids] of steps) {
    await t.test(step, async (t) => { await startsPublishing(t, renderChart({ set: { ...addresses, ...set } }), secrets, kids) })
  }
})

t.test('both keys in one Secret: both files mounted, the pod starts', async (t) => {
  const issuer = await startIssuer(t)
  const manifests = renderChart({ set: { ...await localAddresses(issuer), 'assertionKey.existingSecret': 'gw-assertion', 'config.assertion.keys': [key('2027-06'), key('2026-12')] } })
  await startsPublishing(t, manifests, { 'gw-assertion': { '2026-12.pem': makeKey(t, '2026-12'), '2027-06.pem': makeKey(t, '2027-06') } }, ['2027-06', '2026-12'])
})

t.test('from the key the chart made to one of your own: the kept Secret stays mounted beside the new one', async (t) => {
  const issuer = await startIssuer(t)
  const cluster = await startFakeCluster(t, 'bookme')
  const set = { ...await localAddresses(issuer), 'assertionKey.create': true, 'assertionKey.additionalSecrets': ['gw-assertion-2027-06'], 'config.assertion.keys': [key('gateway-1', 'assertion.pem'), key('2027-06')] }
  const rendered = await helmAsync(templateArgs({ set, args: cluster.helmArgs }))
  t.equal(rendered.status, 0, rendered.stderr)
  await startsPublishing(t, parseManifests(rendered.stdout), { 'gw-assertion-2027-06': { '2027-06.pem': makeKey(t, '2027-06') } }, ['gateway-1', '2027-06'])
})
