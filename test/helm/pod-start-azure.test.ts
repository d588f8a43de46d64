import t from 'tap'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { examplePath, renderChart } from '../helpers/helm-render.js'
import { makeCertificates } from '../helpers/certs.js'
import { startFakeGraph } from '../helpers/graph.js'
import { HOME_TENANT, startIssuer } from '../helpers/issuer.js'
import { localBackendAddresses, podStartsReady, runPodToExit } from '../helpers/pod-run.js'
import { createServiceAccountIssuer } from '../helpers/pod-service-accounts.js'
import { azureWorkloadIdentityWebhook, TOKEN_EXCHANGE_AUDIENCE, tokenLayout } from '../helpers/pod-webhooks.js'
import { startTlsBackends } from '../helpers/services.js'

// examples/azure-values.yaml as its Deployment runs it (CONTRACT.md §16): Azure Database for
// MySQL and Azure Cache for Redis over verified TLS, standing in here as a TLS MariaDB and a
// TLS-only Redis with a password; the CA comes from the Secret bookme-gateway-tls. Microsoft
// Graph (groups overage) with Azure Workload Identity and no secret (§15): the test plays what
// AKS does — the workload identity webhook mutates the rendered pods (pod-webhooks.ts), the API
// server issues their service-account tokens (pod-service-accounts.ts) — and the local token
// endpoint accepts a token only from that issuer for that service account, as the Graph app's
// federated credential would. Only addresses and credentials are overridden.
const example = parse(readFileSync(examplePath('azure-values.yaml'), 'utf8')) as { graph: { workloadIdentity: { clientId: string } } }
const GRAPH_APP = example.graph.workloadIdentity.clientId
const SERVICE_ACCOUNT = 'system:serviceaccount:bookme:ci-bookme-gateway'
const CHECK_POD = 'ci-bookme-gateway-check'

t.test('the azure example starts to /readyz 200 with workload identity for Graph, and its helm test proves the federated credential', async (t) => {
  const certs = makeCertificates(t)
  const issuer = await startIssuer(t)
  const cluster = createServiceAccountIssuer()
  const graph = await startFakeGraph(t, issuer, { app: { clientId: GRAPH_APP, secrets: [], federated: [{ issuer: cluster.issuer, subject: SERVICE_ACCOUNT, publicKey: cluster.publicKey }] } })
  graph.consented.add(HOME_TENANT)
  const redisPassword = 'azure-cache-access-key'
  const { db, redis } = await startTlsBackends(t, certs, redisPassword)
  const rendered = renderChart({
    values: [examplePath('azure-values.yaml')],
    set: await localBackendAddresses(issuer, { db, redis, graph })
  })
  // No graph-secret anywhere: the Secret the example expects holds the backends' passwords only.
  const secrets = {
    'bookme-gateway-secrets': { 'mysql-password': db.password, 'redis-password': redisPassword },
    'bookme-gateway-tls': { 'ca.pem': readFileSync(certs.caFile, 'utf8') }
  }
  const manifests = azureWorkloadIdentityWebhook(rendered, { tenantId: HOME_TENANT })
  const { pod, ready } = await podStartsReady(t, { manifests, secrets, serviceAccountToken: cluster.token })
  t.match(ready.body.dependencies, { source: { state: 'up', detail: /TLS verified/ }, cache: { state: 'up', detail: /TLS verified/ } }, 'both backends answer over verified TLS')
  t.match(pod.env, { AZURE_CLIENT_ID: GRAPH_APP, AZURE_TENANT_ID: HOME_TENANT, AZURE_FEDERATED_TOKEN_FILE: tokenLayout('1.5', '').file, AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com/' }, 'the webhook\'s env, from the ServiceAccount\'s annotation')
  t.notOk('GRAPH_SECRET' in pod.env, 'no Graph secret')
  t.match(cluster.issued[0], { serviceAccount: 'ci-bookme-gateway', audience: TOKEN_EXCHANGE_AUDIENCE, expirationSeconds: 3600 }, 'the kubelet asked for the service account\'s token for Entra\'s audience')

  // `helm test`: the check hook in the same composed environment (webhook, token, Secrets, files).
  const check = await runPodToExit(t, { manifests, secrets, serviceAccountToken: cluster.token, pod: CHECK_POD })
  t.equal(check.code, 0, `check exits 0:\n${check.output}`)
  t.same(check.argv, ['/nodejs/bin/node', 'dist/cli.js', 'check', '--config', '/etc/bookme-gateway/config/gateway.yaml'], 'the image\'s entrypoint with check')
  t.match(check.output, new RegExp(`^ok groups overage: graph, 1 group id named by rules; federated service-account token from ${tokenLayout('1.5', '').file} accepted: a Graph token obtained in the home tenant ${HOME_TENANT}$`, 'm'), 'check names the federated token it proved')
  const request = graph.tokenRequests.at(-1)
  t.equal(request?.form.get('client_id'), GRAPH_APP, 'the token request names the app of the federated credential')
  t.match(request?.client, { kind: 'federated', claims: { iss: cluster.issuer, sub: SERVICE_ACCOUNT, aud: [TOKEN_EXCHANGE_AUDIENCE] } }, 'its client assertion is the pod\'s projected service-account token')
  t.notOk(check.output.includes(cluster.issued.at(-1)!.token.split('.')[2]!), 'the token is not printed')

  // The webhook v1.6 mounts the token elsewhere: the gateway follows AZURE_FEDERATED_TOKEN_FILE, the chart names no path.
  const moved = await runPodToExit(t, { manifests: azureWorkloadIdentityWebhook(rendered, { tenantId: HOME_TENANT, release: '1.6' }), secrets, serviceAccountToken: cluster.token, pod: CHECK_POD })
  t.equal(moved.code, 0, `webhook v1.6 layout: check exits 0:\n${moved.output}`)
  t.match(moved.output, `federated service-account token from ${tokenLayout('1.6', CHECK_POD).file} accepted`, 'the token where v1.6 mounts it')
})
