import type { Test } from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * The least of a Kubernetes API server that Helm needs for `helm template --dry-run=server`:
 * discovery for the kinds the chart renders, and Secrets to read (`lookup`) from a store the test
 * fills. Enough to see what the chart does with and without its key Secret in the cluster,
 * with no cluster and no network.
 */
export interface FakeCluster {
  kubeconfig: string
  /** Secrets by `namespace/name`. */
  secrets: Map<string, StoredSecret>
  /** Every request's method and path, in order. */
  requests: string[]
  /** `helm template` arguments that render against this cluster. */
  helmArgs: string[]
}

export interface StoredSecret {
  metadata: { name: string, namespace: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  type?: string
  data: Record<string, string>
}

const KINDS: Record<string, Array<[string, string]>> = {
  v1: [['secrets', 'Secret'], ['configmaps', 'ConfigMap'], ['services', 'Service'], ['serviceaccounts', 'ServiceAccount']],
  'apps/v1': [['deployments', 'Deployment']],
  'networking.k8s.io/v1': [['networkpolicies', 'NetworkPolicy'], ['ingresses', 'Ingress']],
  'policy/v1': [['poddisruptionbudgets', 'PodDisruptionBudget']],
  'autoscaling/v2': [['horizontalpodautoscalers', 'HorizontalPodAutoscaler']],
  'monitoring.coreos.com/v1': [['servicemonitors', 'ServiceMonitor']]
}

export async function startFakeCluster (t: Test, namespace = 'bookme'): Promise<FakeCluster> {
  const secrets = new Map<string, StoredSecret>()
  const requests: string[] = []
  const server = createServer((req, res) => { answer(req, res, secrets, requests) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const dir = mkdtempSync(join(tmpdir(), 'bookme-kube-'))
  const kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` } }],
    users: [{ name: 'fake', user: { token: 'fake' } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace } }],
    'current-context': 'fake'
  }))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    rmSync(dir, { recursive: true, force: true })
  })
  return { kubeconfig, secrets, requests, helmArgs: ['--kubeconfig', kubeconfig, '--dry-run=server', '--disable-openapi-validation'] }
}

function answer (req: IncomingMessage, res: ServerResponse, secrets: Map<string, StoredSecret>, requests: string[]): void {
  const path = (req.url ?? '/').split('?')[0]!
  requests.push(`${req.method ?? 'GET'} ${path}`)
  const send = (body: unknown, status = 200): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  const notFound = (): void => send({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${path} not found`, details: {} }, 404)
  if (req.method !== 'GET') return send({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'MethodNotAllowed', code: 405, message: 'read-only' }, 405)
  if (path === '/version') return send({ major: '1', minor: '31', gitVersion: 'v1.31.0', platform: 'linux/amd64' })
  if (path === '/api') return send({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] })
  if (path === '/apis') {
    return send({
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: Object.keys(KINDS).filter((gv) => gv.includes('/')).map((gv) => {
        const [name, version] = gv.split('/') as [string, string]
        return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } }
      })
    })
  }
  const groupVersion = path === '/api/v1' ? 'v1' : /^\/apis\/([^/]+\/[^/]+)$/.exec(path)?.[1]
  if (groupVersion !== undefined) {
    const kinds = KINDS[groupVersion]
    if (kinds === undefined) return notFound()
    return send({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources: kinds.map(([name, kind]) => ({ name, singularName: kind.toLowerCase(), namespaced: true, kind, verbs: ['get', 'list'] })) })
  }
  const secretList = /^\/api\/v1\/namespaces\/([^/]+)\/secrets$/.exec(path)
  if (secretList) {
    const items = [...secrets.values()].filter((s) => s.metadata.namespace === secretList[1])
    return send({ kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: items.map(asObject) })
  }
  const secret = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(path)
  if (secret) {
    const stored = secrets.get(`${secret[1]}/${secret[2]}`)
    return stored ? send(asObject(stored)) : notFound()
  }
  notFound()
}

function asObject (secret: StoredSecret): Record<string, unknown> {
  return { kind: 'Secret', apiVersion: 'v1', type: 'Opaque', ...secret, metadata: { resourceVersion: '1', uid: `uid-${secret.metadata.name}`, ...secret.metadata } }
}
