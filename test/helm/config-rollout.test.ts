import t from 'tap'
import { helm, manifestOf, renderChart, templateArgs, type Manifest } from '../helpers/helm-render.js'

// How a `helm upgrade` reaches the pods (chart README "Config changes"). The Deployment
// controller replaces the pods when, and only when, the pod template changes (it names each
// ReplicaSet by the template's hash); the ConfigMap it mounts reaches running pods on its own.
// So each case renders twice and compares what the controller compares.

interface PodTemplate { metadata: { annotations?: Record<string, string> }, spec: unknown }
const template = (manifests: Manifest[]): PodTemplate => manifestOf<{ spec: { template: PodTemplate } }>(manifests, 'Deployment').spec.template
const configMap = (manifests: Manifest[]): unknown => manifestOf<{ data: unknown }>(manifests, 'ConfigMap', 'ci-bookme-gateway').data
const route = (roles: string[]) => [{ name: 'meetings', prefix: '/api/meetings', upstream: 'http://meetings.bookme.svc:8080', api: 'management', roles }]

/** Two renders that differ by `change` only. */
function upgrade (base: Record<string, unknown>, change: Record<string, unknown>): { before: Manifest[], after: Manifest[] } {
  return { before: renderChart({ set: base }), after: renderChart({ set: { ...base, ...change } }) }
}

const configChanges: Array<[string, Record<string, unknown>]> = [
  ['a route\'s roles', { 'config.routes': route(['Admin']) }],
  ['the mappings file', { 'mappingsFile.banks': [{ id: '1001', name: 'Demo Bank' }] }],
  ['the assertion\'s lifetime', { 'config.assertion.ttlSec': 30 }]
]
// trustProxy and shutdownGraceMs are not in the pod spec (ports and the grace period are): only
// the pod template's annotations can roll the pods for them.
const restartChanges: Array<[string, Record<string, unknown>]> = [
  ['config.server.trustProxy (read at start)', { 'config.server.trustProxy': 2 }],
  ['config.server.shutdownGraceMs', { 'config.server.shutdownGraceMs': 20000 }],
  ['a Secret value (env, read at start)', { 'secrets.mysqlPassword': 'changed' }]
]

for (const mode of ['live', 'rollout'] as const) {
  // `live` is the default: it is not set for that case.
  const base = { 'config.routes': route(['Employee']), ...(mode === 'rollout' ? { configReload: mode } : {}) }
  t.test(`configReload ${mode}: a config or mappings change ${mode === 'live' ? 'keeps the pods, which reload it' : 'replaces the pods'}`, async (t) => {
    for (const [name, change] of configChanges) {
      const { before, after } = upgrade(base, change)
      t.not(JSON.stringify(configMap(after)), JSON.stringify(configMap(before)), `${name}: the ConfigMap changes`)
      if (mode === 'live') t.same(template(after), template(before), `${name}: the same pod template, no new pods`)
      else t.notSame(template(after), template(before), `${name}: a new pod template, the pods roll`)
    }
  })
  t.test(`configReload ${mode}: what is read only at start replaces the pods`, async (t) => {
    for (const [name, change] of restartChanges) {
      const { before, after } = upgrade(base, change)
      t.notSame(template(after), template(before), `${name}: a new pod template, the pods roll`)
    }
    const { before, after } = upgrade(base, { 'config.server.trustProxy': 2 })
    t.same(template(after).spec, template(before).spec, 'trustProxy: the pod spec itself is the same')
    t.notSame(template(after).metadata.annotations, template(before).metadata.annotations, 'trustProxy: the annotations differ')
  })
}

t.test('switching configReload rolls the pods once; the same values render the same pods', async (t) => {
  t.same(template(renderChart()), template(renderChart()), 'two renders of the defaults')
  t.notSame(template(renderChart({ set: { configReload: 'rollout' } })), template(renderChart()))
})

t.test('configReload takes live or rollout only', async (t) => {
  const result = helm(templateArgs({ set: { configReload: 'restart' } }))
  t.not(result.status, 0)
  t.match(result.stderr, /configReload/)
})

t.test('a relative file path is taken from the ConfigMap\'s folder: one outside its two files is refused with the absolute path', async (t) => {
  const keys = (privateKeyFile: string) => ({ 'assertionKey.existingSecret': 'gw-keys', 'config.assertion.keys': [{ kid: 'k', privateKeyFile }] })
  const refused = helm(templateArgs({ set: keys('keys/k.pem') }))
  t.not(refused.status, 0, 'keys/k.pem would be /etc/bookme-gateway/config/keys/k.pem, which no mount holds')
  t.match(refused.stderr, 'config.assertion.keys[0].privateKeyFile: keys/k.pem is /etc/bookme-gateway/config/keys/k.pem')
  t.match(refused.stderr, 'e.g. /etc/bookme-gateway/keys/k.pem', 'the fix names where the keys are mounted')
  for (const file of ['/etc/bookme-gateway/keys/k.pem', '../keys/k.pem']) t.equal(helm(templateArgs({ set: keys(file) })).status, 0, `${file}: outside the ConfigMap's folder, rendered`)
  for (const file of ['mappings.yaml', './mappings.yaml', '/etc/bookme-gateway/config/mappings.yaml']) t.equal(helm(templateArgs({ set: { 'config.mappings.file': file } })).status, 0, `${file}: the ConfigMap's own file`)
  t.not(helm(templateArgs({ set: { 'config.mappings.file': '/etc/bookme-gateway/config/banks.yaml' } })).status, 0, 'a file the ConfigMap does not hold')
})

t.test('no extra mount inside the ConfigMap\'s folder', async (t) => {
  const result = helm(templateArgs({ set: { extraVolumes: [{ name: 'tls', secret: { secretName: 'tls' } }], extraVolumeMounts: [{ name: 'tls', mountPath: '/etc/bookme-gateway/config/tls', readOnly: true }] } }))
  t.not(result.status, 0)
  t.match(result.stderr, 'mount it beside, e.g. /etc/bookme-gateway/tls')
})
