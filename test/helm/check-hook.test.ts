import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { EXAMPLES, examplePath, manifestOf, renderChart, type Manifest } from '../helpers/helm-render.js'
import { makeCertificates } from '../helpers/certs.js'
import { GRAPH_SECRET, startFakeGraph } from '../helpers/graph.js'
import { HOME_TENANT, startIssuer } from '../helpers/issuer.js'
import { localBackendAddresses, runPodToExit } from '../helpers/pod-run.js'
import { composeArgv, readDockerfile, type ContainerSpec } from '../helpers/pod-spec.js'
import { startTlsBackends } from '../helpers/services.js'

// `helm test <release>` (CONTRACT.md §9 check, §16): templates/tests/check.yaml runs
// `bookme-gateway check` in a pod of its own, built from the same helpers as the Deployment's
// pod, so it checks what the gateway would meet with the gateway's own env, Secrets and files.
// Rendered by Helm 4, composed with the image as Kubernetes would, run in the pod sandbox.
const CHECK_POD = 'ci-bookme-gateway-check'
const dockerfile = readDockerfile(fileURLToPath(new URL('../../Dockerfile', import.meta.url)))

interface PodSpec { containers: ContainerSpec[], [key: string]: unknown }
interface PodManifest extends Manifest { spec: PodSpec & { restartPolicy?: string } }
const deploymentPod = (manifests: Manifest[]): { metadata: { labels: Record<string, string> }, spec: PodSpec } => manifestOf<{ spec: { template: { metadata: { labels: Record<string, string> }, spec: PodSpec } } }>(manifests, 'Deployment').spec.template
const checkPod = (manifests: Manifest[]): PodManifest => manifestOf<PodManifest>(manifests, 'Pod', CHECK_POD)

/** Whether a Kubernetes label selector (matchLabels, matchExpressions In/NotIn/Exists) selects these labels. */
function selects (selector: { matchLabels?: Record<string, string>, matchExpressions?: Array<{ key: string, operator: string, values?: string[] }> } | Record<string, string>, labels: Record<string, string>): boolean {
  const { matchLabels = {}, matchExpressions = [] } = 'matchLabels' in selector || 'matchExpressions' in selector ? selector as { matchLabels?: Record<string, string>, matchExpressions?: Array<{ key: string, operator: string, values?: string[] }> } : { matchLabels: selector as Record<string, string> }
  return Object.entries(matchLabels).every(([key, value]) => labels[key] === value) && matchExpressions.every(({ key, operator, values = [] }) => {
    if (operator === 'In') return values.includes(labels[key] as string)
    if (operator === 'NotIn') return !values.includes(labels[key] as string)
    if (operator === 'Exists') return key in labels
    return !(key in labels)
  })
}

const extras = {
  extraEnv: [{ name: 'HTTPS_PROXY', value: 'http://proxy.bank.example:3128' }],
  extraVolumes: [{ name: 'graph-cert', secret: { secretName: 'graph-cert' } }],
  extraVolumeMounts: [{ name: 'graph-cert', mountPath: '/etc/bookme-gateway/graph', readOnly: true }],
  imagePullSecrets: [{ name: 'registry' }],
  nodeSelector: { pool: 'edge' },
  tolerations: [{ key: 'edge', operator: 'Exists' }],
  podLabels: { team: 'platform' },
  'assertionKey.existingSecret': 'bookme-gateway-assertion-2026-12',
  'graph.workloadIdentity.clientId': '00000000-0000-0000-0000-0000000000cc'
}

t.test('the test hook: check, with the Deployment\'s env, files, identity and hardening, in the defaults and every example', async (t) => {
  const cases: Array<[string, Manifest[]]> = [
    ['values.yaml', renderChart()],
    ...EXAMPLES.map((file): [string, Manifest[]] => [file, renderChart({ values: [examplePath(file)] })]),
    ['every pod value set', renderChart({ set: extras })]
  ]
  for (const [name, manifests] of cases) {
    const hook = checkPod(manifests)
    const gateway = deploymentPod(manifests)
    t.match(hook.metadata.annotations, { 'helm.sh/hook': 'test', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded' }, `${name}: a helm test hook, replaced at each run and removed once it passed`)
    t.equal(hook.spec.restartPolicy, 'Never', `${name}: runs once`)
    const [check] = hook.spec.containers as [ContainerSpec & Record<string, unknown>]
    const [start] = gateway.spec.containers as [ContainerSpec & Record<string, unknown>]
    t.same(composeArgv(dockerfile, check, new Map()), ['/nodejs/bin/node', 'dist/cli.js', 'check', '--config', '/etc/bookme-gateway/config/gateway.yaml'], `${name}: the image's entrypoint runs check with the mounted config`)
    for (const key of ['image', 'imagePullPolicy', 'env', 'volumeMounts', 'securityContext', 'resources']) t.same(check[key], start[key], `${name}: container ${key} as the gateway's`)
    for (const key of ['serviceAccountName', 'automountServiceAccountToken', 'imagePullSecrets', 'securityContext', 'volumes', 'nodeSelector', 'affinity', 'tolerations']) t.same(hook.spec[key], gateway.spec[key], `${name}: pod ${key} as the gateway's`)
    t.match(check.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } }, `${name}: restrictive`)

    // Not the Deployment's pod: no Service endpoint, no PodDisruptionBudget or autoscaler counting it.
    const labels = hook.metadata.labels ?? {}
    const service = manifestOf<{ spec: { selector: Record<string, string> } }>(manifests, 'Service')
    t.notOk(selects(service.spec.selector, labels), `${name}: the Service does not select it`)
    t.notOk(selects((manifestOf(manifests, 'Deployment') as unknown as { spec: { selector: Record<string, string> } }).spec.selector, labels), `${name}: nor the Deployment's selector (PodDisruptionBudget, HPA)`)
    const policy = manifests.find((m) => m.kind === 'NetworkPolicy') as { spec: { podSelector: Record<string, unknown> } } | undefined
    if (policy) {
      t.ok(selects(policy.spec.podSelector, labels), `${name}: the NetworkPolicy applies to it: check goes only where the gateway may`)
      t.ok(selects(policy.spec.podSelector, gateway.metadata.labels), `${name}: …as it applies to the gateway`)
    }
  }
  const labelled = checkPod(cases.at(-1)![1]).metadata.labels
  t.match(labelled, { team: 'platform', 'azure.workload.identity/use': 'true', 'app.kubernetes.io/component': 'check' }, 'podLabels and workload identity\'s label, as on the gateway\'s pods')
})

t.test('helm test: check passes against the production example\'s backends and fails on a wrong MySQL password', async (t) => {
  const certs = makeCertificates(t)
  const issuer = await startIssuer(t)
  const production = parse(readFileSync(examplePath('production-values.yaml'), 'utf8')) as { config: { entra: { graph: { clientId: string } } } }
  const graph = await startFakeGraph(t, issuer, { app: { clientId: production.config.entra.graph.clientId } })
  graph.consented.add(HOME_TENANT)
  const redisPassword = 'redis-test-password'
  const { db, redis } = await startTlsBackends(t, certs, redisPassword)
  const manifests = renderChart({
    values: [examplePath('production-values.yaml')],
    set: await localBackendAddresses(issuer, { db, redis, graph })
  })
  const secretsWith = (mysqlPassword: string): Record<string, Record<string, string>> => ({
    'bookme-gateway-secrets': { 'mysql-password': mysqlPassword, 'redis-password': redisPassword, 'graph-secret': GRAPH_SECRET },
    'bookme-gateway-tls': { 'ca.pem': readFileSync(certs.caFile, 'utf8') },
    'bookme-gateway-assertion-2026-12': { '2026-12.pem': generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }
  })
  const lines = (output: string): string[] => output.split('\n').filter((line) => /^(ok|FAIL) /.test(line))

  const passed = await runPodToExit(t, { manifests, secrets: secretsWith(db.password), pod: CHECK_POD })
  t.equal(passed.code, 0, `exit 0:\n${passed.output}`)
  t.same(lines(passed.output).map((line) => line.split(/: | \(/)[0]), [
    'ok config', 'ok discovery and JWKS for management', 'ok discovery and JWKS for system', 'ok mapping source', 'ok cache', 'ok blocks', 'ok groups overage', 'ok rate limits', 'ok assertion'
  ], 'one ok line per dependency')
  t.match(passed.output, /^ok mapping source: mysql 127\.0\.0\.1:\d+\/bp_organizations_db, TLS verified/m, 'MySQL over verified TLS, with the password from the Secret')
  t.match(passed.output, /^ok cache: redis standalone 127\.0\.0\.1:\d+ \(primary\), TLS verified/m, 'Redis likewise')
  t.match(passed.output, /^ok groups overage: .*client secret \(entra\.graph\.clientSecret\) accepted/m, 'the Graph secret from the Secret, proven')
  t.match(passed.output, /^ok assertion: ES256, kid 2026-12 signs$/m, 'the assertion key from its Secret, mounted')
  t.notOk(passed.output.includes(GRAPH_SECRET) || passed.output.includes(db.password), 'no secret in the log')

  const failed = await runPodToExit(t, { manifests, secrets: secretsWith('not-the-password'), pod: CHECK_POD })
  t.equal(failed.code, 1, `a wrong MySQL password: exit 1:\n${failed.output}`)
  t.match(lines(failed.output).filter((line) => line.startsWith('FAIL')), [/^FAIL mapping source: .*(denied|password|credentials)/i], 'one FAIL line, the mapping source, saying why')
  t.ok(lines(failed.output).some((line) => line.startsWith('ok cache')), 'the other checks still run')
})
