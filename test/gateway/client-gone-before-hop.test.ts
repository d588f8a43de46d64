/**
 * A client that leaves while its request is still being decided (here: a Graph lookup for a
 * groups-overage token, held by the test): once the decision comes, the upstream is not called,
 * and no client span is started under a server span that has already ended.
 */
import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startOtlpReceiver } from '../helpers/otlp-receiver.js'
import { eventually } from '../helpers/eventually.js'
import { GRAPH_APP, GRAPH_SECRET, groupIds, startFakeGraph } from '../helpers/graph.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

const SERVER = 2
const CLIENT = 3
const USER = 'aaaaaaaa-0000-4000-8000-000000000002'
const [MANAGERS] = groupIds('7c', 1) as [string]

t.test('a client gone before the decision came: the upstream is never called and no client span starts', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const receiver = await startOtlpReceiver(t)
  const graph = await startFakeGraph(t, issuer)
  graph.consented.add(BANK_TENANT)
  graph.members.set(USER, [MANAGERS])
  const gw = await startTestGateway(t, {
    ...authConfig(issuer, upstream.url, { entra: { groupsOverage: 'graph', graph: { endpoint: graph.url, clientId: GRAPH_APP, clientSecret: '${GRAPH_SECRET}' } } }),
    roles: { mappings: [{ attribute: 'roles', value: '*' }, { attribute: 'groups', value: MANAGERS, role: 'Manager' }] },
    tracing: { endpoint: receiver.endpoint, sampleRatio: 1 }
  }, { mappings: DEFAULT_MAPPINGS, env: { GRAPH_SECRET } })
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { oid: USER, roles: ['Employee'], hasgroups: true } })
  const call = async (signal?: AbortSignal): Promise<Response> => await fetch(`${gw.proxyUrl}/api/meetings/1`, { headers: { authorization: `Bearer ${token}` }, signal })

  let release = (): void => {}
  graph.held = new Promise<void>((resolve) => { release = resolve })
  const controller = new AbortController()
  const aborted = call(controller.signal)
  t.ok(await eventually(() => graph.calls.length, (n) => n > 0, 5000), 'the decision waits on Graph')
  controller.abort()
  await t.rejects(aborted, { name: 'AbortError' })
  const connections = async (): Promise<number> => await new Promise((resolve, reject) => { gw.app.server.getConnections((err, n) => { if (err) reject(err); else resolve(n) }) })
  t.equal(await eventually(connections, (n) => n === 0, 5000), 0, 'the gateway saw the client leave')
  graph.held = undefined
  release()

  // The decision completes after the client left; the next request shows the pipeline went on.
  const next = await call()
  t.equal(next.status, 200, 'the next request, answered from the kept Graph answer, is proxied')
  await next.arrayBuffer()
  t.equal(upstream.requests.length, 1, 'only the request whose client stayed reached the upstream')

  const spans = await eventually(async () => { await gw.resources.tracing!.flush(); return receiver.spans }, (all) => all.filter((span) => span.kind === SERVER).length >= 2, 5000)
  const servers = spans.filter((span) => span.kind === SERVER)
  const clients = spans.filter((span) => span.kind === CLIENT)
  t.equal(servers.length, 2, 'a server span for each request')
  t.equal(clients.length, 1, 'a client span only for the call that was made')
  const gone = servers.find((span) => span.spanId !== clients[0]?.parentSpanId)
  t.equal(gone?.attributes['error.type'], 'client_closed', 'the server span of the request whose client left says so')
})
