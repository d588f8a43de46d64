import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import { parse } from 'yaml'
import { ConfigSchema } from '../../src/config/schema.js'
import { chartValuesSchema, VALUES_SCHEMA_PATH } from '../helpers/chart-schema.js'
import { chartPath, EXAMPLES, examplePath, helm, manifestOf, renderChart, templateArgs, type Manifest } from '../helpers/helm-render.js'
import type { ContainerSpec, SecurityContext } from '../helpers/pod-spec.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'

// The chart as Helm 4 renders it: values against the schema, lint, and what the rendered
// manifests promise (ports, probes, env, hardening, network policy). That every example's pod
// starts is proven by the pod-start-*.test.ts files, one per example.
const read = (path: string): string => readFileSync(chartPath(path), 'utf8')
const defaults = parse(read('values.yaml')) as Record<string, unknown>
const validateValues = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(VALUES_SCHEMA_PATH, 'utf8')) as object)
/** Defaults and each example, as `helm template` options. */
const cases: Array<[string, string[]]> = [['values.yaml', []], ...EXAMPLES.map((file): [string, string[]] => [file, [examplePath(file)]])]
const renders = new Map<string, Manifest[]>()
/** Each case rendered once for the whole file. */
const rendered = (values: string[]): Manifest[] => {
  const key = values.join('\0')
  if (!renders.has(key)) renders.set(key, renderChart({ values }))
  return renders.get(key)!
}

interface PodTemplate { spec: { template: { spec: { containers: ContainerSpec[], securityContext: SecurityContext, terminationGracePeriodSeconds: number, automountServiceAccountToken: boolean }, metadata: { annotations: Record<string, string> } } } }
const podOf = (manifests: Manifest[]) => manifestOf<PodTemplate>(manifests, 'Deployment').spec.template
const containerOf = (manifests: Manifest[]): ContainerSpec & { resources: { limits: { memory: string } }, lifecycle: { preStop: { sleep: { seconds: number } } } } => podOf(manifests).spec.containers[0] as never

t.test('values.schema.json is generated from the gateway\'s config schema and current', async (t) => {
  t.same(JSON.parse(readFileSync(VALUES_SCHEMA_PATH, 'utf8')), chartValuesSchema(), 'run `npm run chart:schema` after a schema change')
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string }
  t.equal((parse(read('Chart.yaml')) as { appVersion: string }).appVersion, pkg.version, 'appVersion = package.json version')
})

t.test('helm lint passes and every example renders (values.schema.json applied), each with a pod start test of its own', async (t) => {
  t.ok(EXAMPLES.length >= 4, 'examples exist')
  for (const [name, values] of cases) {
    const lint = helm(['lint', '--strict', chartPath(), ...values.flatMap((v) => ['-f', v])])
    t.equal(lint.status, 0, `helm lint ${name}: ${lint.stdout}${lint.stderr}`)
    t.ok(rendered(values).length > 0, `helm template ${name}`)
    const test = `pod-start-${name.replace(/(-values)?\.yaml$/, '').replace(/^values$/, 'defaults')}.test.ts`
    t.ok(existsSync(fileURLToPath(new URL(test, import.meta.url))), `${name} is started by test/helm/${test}`)
  }
})

t.test('the schema rejects wrong types and unknown keys, in the chart and in config; Helm applies it', async (t) => {
  const bad: Array<[string, Record<string, unknown>]> = [
    ['unknown top-level key', { ...defaults, replicas: 3 }],
    ['wrong type', { ...defaults, replicaCount: 'two' }],
    ['unknown nested key', { ...defaults, autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 3, cpu: 50 } }],
    ['unknown config key', { ...defaults, config: { ...(defaults.config as object), extra: true } }],
    ['config wrong type', { ...defaults, config: { ...(defaults.config as object), server: { port: 'eighty' } } }],
    ['config bad enum', { ...defaults, config: { ...(defaults.config as object), cache: { store: 'memcached' } } }],
    ['a CIDR that is not one', { ...defaults, networkPolicy: { ...(defaults.networkPolicy as object), ingressFrom: { cidrs: ['app-gateway'] } } }]
  ]
  for (const [name, values] of bad) t.notOk(validateValues(values), name)
  const refused = helm(templateArgs({ set: { 'config.cache.store': 'memcached' } }))
  t.not(refused.status, 0, 'helm template refuses what the schema refuses')
  t.match(refused.stderr, /config\.cache\.store|config\/cache\/store/)
})

t.test('probe and scrape paths exist on the admin port; ports and grace follow the gateway\'s defaults', async (t) => {
  const manifests = renderChart({ set: { 'config.server.port': null, 'config.server.adminPort': null, 'config.server.shutdownGraceMs': null }, args: ['--api-versions', 'monitoring.coreos.com/v1/ServiceMonitor'] })
  const container = containerOf(manifests)
  const server = ConfigSchema.properties.server.properties
  t.same(container.ports, [{ name: 'http', containerPort: server.port.default, protocol: 'TCP' }, { name: 'admin', containerPort: server.adminPort.default, protocol: 'TCP' }], 'container ports are the gateway\'s defaults when config.server leaves them out')
  const probes = [container.startupProbe, container.readinessProbe, container.livenessProbe].map((p) => p?.httpGet)
  t.ok(probes.every((p) => p?.port === 'admin'), 'every probe asks the admin port')
  const monitor = manifestOf<{ spec: { endpoints: Array<{ port: string, path: string }> } }>(manifests, 'ServiceMonitor').spec.endpoints[0]!
  t.equal(monitor.port, 'admin')
  const paths = [...new Set([...probes.map((p) => p!.path), monitor.path])].sort()
  t.same(paths, ['/healthz', '/metrics', '/readyz'])
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [{ name: 'o', prefix: '/o', upstream: upstream.url, auth: 'none' }] })
  for (const path of paths) t.not((await fetch(gw.adminUrl + path)).status, 404, `${path} exists on the admin port`)

  // The pod outlives preStop + the gateway's drain (shutdownGraceMs) + its 2 s hard-stop margin.
  for (const [name, values] of cases) {
    const manifests = rendered(values)
    const pod = podOf(manifests).spec
    const config = gatewayConfig(manifests) as { server?: { shutdownGraceMs?: number } }
    const drainSec = (config.server?.shutdownGraceMs ?? server.shutdownGraceMs.default) / 1000
    t.ok(pod.terminationGracePeriodSeconds > containerOf(manifests).lifecycle.preStop.sleep.seconds + drainSec + 2, `${name}: grace ${pod.terminationGracePeriodSeconds} s > preStop + drain ${drainSec} s + 2 s`)
  }
})

t.test('every ${VAR} a config uses is an env var the Deployment sets', async (t) => {
  for (const [name, values] of cases) {
    const manifests = rendered(values)
    const set = new Set((containerOf(manifests).env ?? []).map((e) => e.name))
    const used = [...JSON.stringify(gatewayConfig(manifests)).matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]!)
    for (const variable of used) t.ok(set.has(variable), `${name}: \${${variable}} is set by the Deployment`)
  }
})

t.test('hardening is on in every example', async (t) => {
  for (const [name, values] of cases) {
    const manifests = rendered(values)
    const pod = podOf(manifests)
    const container = containerOf(manifests)
    t.match(pod.spec.securityContext, { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } }, `${name}: pod securityContext`)
    t.match(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } }, `${name}: container securityContext`)
    t.equal(pod.spec.automountServiceAccountToken, false, `${name}: no service account token`)
    t.ok(pod.metadata.annotations['checksum/config-server'], `${name}: a change of config.server rolls the pods`)
  }
  t.match(defaults, { autoscaling: { enabled: true, minReplicas: 2 }, podDisruptionBudget: { enabled: true }, networkPolicy: { enabled: true } })
})

t.test('the V8 heap ceiling fits the memory limit, in the defaults and each example', async (t) => {
  // Node alone would take a quarter of the limit as its heap: too little (bench/README.md, soak).
  const mebibytes = (quantity: string): number => {
    const match = /^(\d+)(Mi|Gi)$/.exec(quantity)
    if (!match) throw new Error(`memory limit ${quantity}: give it in Mi or Gi`)
    return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1)
  }
  for (const [name, values] of cases) {
    const container = containerOf(rendered(values))
    const heap = /^--max-old-space-size=(\d+) --max-semi-space-size=(\d+)$/.exec(container.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '')
    t.ok(heap, `${name}: NODE_OPTIONS sets the heap ceiling`)
    const limit = container.resources.limits.memory
    // V8's heap limit is the old space plus three semi-spaces; code and buffers live beside it.
    const budget = Number(heap?.[1]) + 3 * Number(heap?.[2]) + 112
    t.ok(mebibytes(limit) >= budget, `${name}: limits.memory ${limit} ≥ ${budget}Mi (old space ${heap?.[1]} + 3 × semi-space ${heap?.[2]} + 112)`)
  }
})

interface Rule { from?: Array<Record<string, unknown>>, to?: Array<Record<string, unknown>>, ports?: Array<{ port: number | string }> }
const policyOf = (manifests: Manifest[]) => manifestOf<{ spec: { ingress: Rule[] | null, egress: Rule[] | null } }>(manifests, 'NetworkPolicy').spec

t.test('the NetworkPolicy admits proxy traffic from a namespace, from CIDRs (Azure Application Gateway), and never from everywhere', async (t) => {
  const proxyRule = (spec: ReturnType<typeof policyOf>): Rule | undefined => spec.ingress?.find((r) => r.ports?.some((p) => p.port === 'http') && r.from?.some((f) => 'ipBlock' in f || JSON.stringify(f).includes('ingress')))
  const both = policyOf(renderChart({ set: { 'networkPolicy.ingressFrom.cidrs': ['10.20.0.0/24', '10.21.0.0/24'] } }))
  t.same(proxyRule(both)?.from, [
    { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } },
    { ipBlock: { cidr: '10.20.0.0/24' } },
    { ipBlock: { cidr: '10.21.0.0/24' } }
  ], 'the controller\'s namespace and the gateway subnets')
  const cidrsOnly = policyOf(renderChart({ set: { 'networkPolicy.ingressControllerNamespace': '', 'networkPolicy.ingressFrom.cidrs': ['10.20.0.0/24'] } }))
  t.same(proxyRule(cidrsOnly)?.from, [{ ipBlock: { cidr: '10.20.0.0/24' } }], 'the subnet alone')
  t.same(proxyRule(policyOf(renderChart({ values: [examplePath('production-values.yaml')] })))?.from, [{ ipBlock: { cidr: '10.20.0.0/24' } }], 'the production example: Application Gateway\'s subnet')

  // An empty `from`/`to` admits every peer: emptying every list must close, not open.
  const closed = policyOf(renderChart({ set: { 'networkPolicy.ingressControllerNamespace': '', 'networkPolicy.monitoringNamespace': '', 'networkPolicy.upstreams': [], 'networkPolicy.httpsCidrs': [] } }))
  t.same(closed.ingress ?? [], [], 'no namespace, no CIDR: no ingress rule at all')
  for (const [name, values] of [...cases, ['everything emptied', []] as [string, string[]]]) {
    const spec = name === 'everything emptied' ? closed : policyOf(rendered(values))
    for (const rule of spec.ingress ?? []) t.ok(rule.from && rule.from.length > 0, `${name}: every ingress rule names its peers`)
    for (const rule of spec.egress ?? []) t.ok(rule.to && rule.to.length > 0, `${name}: every egress rule names its peers`)
  }
})

function gatewayConfig (manifests: Manifest[]): Record<string, unknown> {
  const configMap = manifests.find((m) => m.kind === 'ConfigMap' && (m as { data?: Record<string, string> }).data?.['gateway.yaml'] !== undefined) as { data: Record<string, string> } | undefined
  if (configMap === undefined) throw new Error('no ConfigMap with gateway.yaml')
  return parse(configMap.data['gateway.yaml']!) as Record<string, unknown>
}
