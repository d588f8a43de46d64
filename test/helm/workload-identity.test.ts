import t from 'tap'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { examplePath, helm, manifestOf, renderChart, templateArgs, type Manifest } from '../helpers/helm-render.js'
import { runPodToExit } from '../helpers/pod-run.js'
import type { ContainerSpec } from '../helpers/pod-spec.js'
import { azureWorkloadIdentityWebhook, CLIENT_ID_ANNOTATION, tokenLayout, USE_LABEL } from '../helpers/pod-webhooks.js'

// graph.workloadIdentity (CONTRACT.md §15 "Graph without a secret": the chart wires workload
// identity with one value): what the chart renders for AKS's webhook, what it refuses, and
// what the webhook played by pod-webhooks.ts does with it. That the example starts and its
// `helm test` proves the federated credential is pod-start-azure.test.ts.
const CLIENT = '00000000-0000-0000-0000-0000000000cc'
const TENANT = '00000000-0000-0000-0000-0000000000aa'
const CHECK_POD = 'ci-bookme-gateway-check'
const withGraph = { 'config.entra.groupsOverage': 'graph', 'config.entra.graph.clientId': CLIENT, 'graph.workloadIdentity.clientId': CLIENT }

type Pod = { metadata: { labels?: Record<string, string> }, spec: { serviceAccountName: string, containers: ContainerSpec[], volumes?: Array<{ name: string }> } }
const pods = (manifests: Manifest[]): Array<[string, Pod]> => [
  ['the Deployment\'s pods', manifestOf<{ spec: { template: Pod } }>(manifests, 'Deployment').spec.template],
  ['the helm test pod', manifestOf<Pod & Manifest>(manifests, 'Pod', CHECK_POD)]
]

t.test('graph.workloadIdentity.clientId: the ServiceAccount\'s client-id annotation and the pods\' label, beside what is set already', async (t) => {
  const plain = renderChart()
  t.same(manifestOf(plain, 'ServiceAccount').metadata.annotations, undefined, 'off by default: no annotation')
  for (const [name, pod] of pods(plain)) t.notOk(pod.metadata.labels?.[USE_LABEL], `off by default: ${name} unlabelled`)

  const manifests = renderChart({ set: { ...withGraph, 'serviceAccount.annotations': { 'team.example/owner': 'platform' }, podLabels: { team: 'platform' } } })
  const account = manifestOf(manifests, 'ServiceAccount')
  t.same(account.metadata.annotations, { 'team.example/owner': 'platform', [CLIENT_ID_ANNOTATION]: CLIENT }, 'the ServiceAccount names the identity, beside its own annotations')
  for (const [name, pod] of pods(manifests)) {
    t.match(pod.metadata.labels, { [USE_LABEL]: 'true', team: 'platform' }, `${name}: labelled for the webhook, podLabels kept`)
    t.equal(pod.spec.serviceAccountName, account.metadata.name, `${name}: run as that ServiceAccount`)
  }
  const config = parse(manifestOf<{ data: Record<string, string> }>(manifests, 'ConfigMap', 'ci-bookme-gateway').data['gateway.yaml']!) as { entra: { graph: Record<string, unknown> } }
  t.same(Object.keys(config.entra.graph), ['clientId'], 'config.entra.graph names no credential: $AZURE_FEDERATED_TOKEN_FILE is the default')
  t.notOk(manifestOf<{ stringData?: Record<string, string> }>(manifests, 'Secret').stringData?.['graph-secret'], 'no graph-secret')

  const azure = renderChart({ values: [examplePath('azure-values.yaml')] })
  t.notOk(JSON.stringify(azure).includes('${GRAPH_SECRET}'), 'the azure example asks for no GRAPH_SECRET')
  t.equal(manifestOf(azure, 'ServiceAccount').metadata.annotations?.[CLIENT_ID_ANNOTATION], CLIENT, 'the azure example uses workload identity')
})

t.test('a render refuses a Graph credential, or another client id, beside workload identity', async (t) => {
  const refused = (set: Record<string, unknown>): string => {
    const result = helm(templateArgs({ set: { ...withGraph, ...set } }))
    t.not(result.status, 0, `refused: ${JSON.stringify(set)}`)
    return result.stderr
  }
  t.match(refused({ 'config.entra.graph.clientSecret': '${GRAPH_SECRET}' }), 'config.entra.graph.clientSecret: with graph.workloadIdentity the credential is the service-account token the webhook mounts; a configured one would win over it and the token never be sent')
  t.match(refused({ 'config.entra.graph.federatedTokenFile': tokenLayout('1.5', '').file }), 'Leave federatedTokenFile out: $AZURE_FEDERATED_TOKEN_FILE names the token wherever the webhook mounts it', 'a fixed token path too: the webhook moved it in v1.6')
  t.match(refused({ 'config.entra.graph.clientId': '00000000-0000-0000-0000-0000000000dd' }), `graph.workloadIdentity.clientId ${CLIENT} is not config.entra.graph.clientId 00000000-0000-0000-0000-0000000000dd`)
  t.match(refused({ 'graph.workloadIdentity.clientId': 'bookme-graph' }), /graph\/workloadIdentity\/clientId|graph\.workloadIdentity\.clientId/, 'a client id is a GUID (values.schema.json)')
  t.ok(renderChart({ set: { ...withGraph, 'graph.workloadIdentity.clientId': CLIENT.toUpperCase() } }).length > 0, 'GUIDs compare without case')
})

t.test('serviceAccount.create false: NOTES give the annotation to add; the webhook refuses a pod whose account does not exist', async (t) => {
  const set = { ...withGraph, 'serviceAccount.create': false, 'serviceAccount.name': 'bookme-graph' }
  const notes = helm(['install', ...templateArgs({ set }).slice(1), '--dry-run=client']).stdout.split('NOTES:')[1] ?? ''
  t.match(notes, 'subject:  system:serviceaccount:bookme:bookme-graph', 'the federated credential\'s subject')
  t.match(notes, `kubectl -n bookme annotate serviceaccount bookme-graph azure.workload.identity/client-id=${CLIENT}`, 'the command that annotates the account')
  const manifests = renderChart({ set })
  t.same(manifests.filter((m) => m.kind === 'ServiceAccount'), [], 'no ServiceAccount rendered')
  t.throws(() => azureWorkloadIdentityWebhook(manifests, { tenantId: TENANT }), /refuses the pod .*serviceaccounts "bookme-graph" not found/)
  const account = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'bookme-graph', annotations: { [CLIENT_ID_ANNOTATION]: CLIENT } } }
  const mutated = azureWorkloadIdentityWebhook(manifests, { tenantId: TENANT, serviceAccounts: [account] })
  for (const [name, pod] of pods(mutated)) t.match(Object.fromEntries((pod.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value])), { AZURE_CLIENT_ID: CLIENT }, `${name}: the account's client id`)
})

t.test('the webhook as played: labelled pods only, the container\'s own variables kept, the token volume added', async (t) => {
  t.same(azureWorkloadIdentityWebhook(renderChart(), { tenantId: TENANT }), renderChart(), 'no label: nothing changes')
  const manifests = renderChart({ set: { ...withGraph, extraEnv: [{ name: 'AZURE_AUTHORITY_HOST', value: 'https://login.microsoftonline.us/' }] } })
  const mutated = azureWorkloadIdentityWebhook(manifests, { tenantId: TENANT })
  for (const [name, pod] of pods(mutated)) {
    const container = pod.spec.containers[0]!
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]))
    t.match(env, { AZURE_CLIENT_ID: CLIENT, AZURE_TENANT_ID: TENANT, AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token', AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.us/' }, `${name}: the webhook's variables; one the container sets is left as it is`)
    t.equal((container.env ?? []).filter((e) => e.name === 'AZURE_AUTHORITY_HOST').length, 1, `${name}: never twice`)
    t.match(container.volumeMounts?.at(-1), { name: 'azure-identity-token', mountPath: '/var/run/secrets/azure/tokens', readOnly: true }, `${name}: the token mounted read-only`)
    t.match(pod.spec.volumes?.at(-1), { name: 'azure-identity-token', projected: { sources: [{ serviceAccountToken: { path: 'azure-identity-token', expirationSeconds: 3600, audience: 'api://AzureADTokenExchange' } }] } }, `${name}: a projected token for Entra's audience`)
  }
  t.same(manifests, renderChart({ set: { ...withGraph, extraEnv: [{ name: 'AZURE_AUTHORITY_HOST', value: 'https://login.microsoftonline.us/' }] } }), 'the rendered manifests themselves are left alone')
})

t.test('without the webhook (not installed, or the pod not labelled) the gateway has no Graph credential, and check says so', async (t) => {
  const example = parse(readFileSync(examplePath('azure-values.yaml'), 'utf8')) as { graph: { workloadIdentity: { clientId: string } } }
  t.equal(example.graph.workloadIdentity.clientId, CLIENT, 'the azure example\'s identity')
  const check = await runPodToExit(t, {
    manifests: renderChart({ values: [examplePath('azure-values.yaml')] }),
    secrets: { 'bookme-gateway-secrets': { 'mysql-password': 'p', 'redis-password': 'p' }, 'bookme-gateway-tls': { 'ca.pem': '' } },
    pod: CHECK_POD
  })
  t.equal(check.code, 1, 'exit 1')
  t.match(check.output, /^FAIL config: entra\.graph: needs one credential: .*AZURE_FEDERATED_TOKEN_FILE/m, 'the missing credential, named')
})
