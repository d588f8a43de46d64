import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { manifestOf, renderChart, type Manifest } from '../helpers/helm-render.js'
import { BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'
import { localAddresses, startPod, type RunningPod } from '../helpers/pod-run.js'
import type { ContainerSpec } from '../helpers/pod-spec.js'
import { startUpstream } from '../helpers/upstream.js'
import { eventually } from '../helpers/eventually.js'

// CONTRACT.md §14 with the chart: a `helm upgrade` that changes only a route's roles leaves the
// Deployment's pod template as it was (no new pods) and changes the ConfigMap, which the kubelet
// writes into the running pod's volume; the same process applies it to the next request.

interface PodTemplate { metadata: { annotations: Record<string, string> }, spec: { containers: ContainerSpec[] } }
const podTemplate = (manifests: Manifest[]): PodTemplate => manifestOf<{ spec: { template: PodTemplate } }>(manifests, 'Deployment').spec.template

async function setup (t: Test) {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const addresses = await localAddresses(issuer)
  const render = (roles: string[]): Manifest[] => renderChart({
    set: { ...addresses, mappingsFile: DEFAULT_MAPPINGS, 'config.routes': [{ name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles }] }
  })
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const call = async (pod: RunningPod): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${pod.ports.http}/api/meetings/x`, { headers: { authorization: `Bearer ${token}` } })
    await res.arrayBuffer()
    return res.status
  }
  const configSha = async (pod: RunningPod): Promise<string> => ((await (await fetch(`http://127.0.0.1:${pod.ports.admin}/readyz`)).json()) as { config: { sha256: string } }).config.sha256
  return { render, call, configSha }
}

t.test('a helm upgrade that changes a route\'s roles: the running pod applies it, no restart', async (t) => {
  const { render, call, configSha } = await setup(t)
  const installed = render(['Employee'])
  const upgraded = render(['Admin'])
  t.same(podTemplate(upgraded), podTemplate(installed), 'the pod template is unchanged: the Deployment keeps its pods')

  const pod = await startPod(t, { manifests: installed })
  await pod.untilReady()
  const pid = pod.child.pid
  t.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /dist\/cli\.js\0start\0/, 'the pid is the gateway\'s own (the sandbox execs it)')
  const sha = await configSha(pod)
  t.equal(await call(pod), 200, 'an Employee passes')

  t.same(pod.syncVolumes(upgraded), ['config'], 'the kubelet rewrites the ConfigMap\'s volume')
  t.equal(await eventually(() => call(pod), (status) => status === 403), 403, 'the next request is refused under the new roles')
  t.not(await configSha(pod), sha, '/readyz shows the new config\'s hash')
  t.equal(pod.child.pid, pid, 'the same process')
  t.equal(pod.child.exitCode, null, 'still running')
  t.match(await eventually(() => pod.output(), (output) => output.includes('config reloaded')), /"msg":"config reloaded"/, 'the reload is logged')
  t.same(await pod.stop(), { code: 0, signal: null }, 'SIGTERM: drained and exited 0')
})

// The mounts the chart had before: each file by subPath. The kubelet binds a subPath mount to
// the file as it was when the container started, so the same update never reaches the process.
// This is what the test above would meet with them, and why the folder is mounted instead.
t.test('the same update through subPath mounts of the files never reaches the process', async (t) => {
  const { render, call } = await setup(t)
  const withSubPaths = (manifests: Manifest[]): Manifest[] => {
    const copy = structuredClone(manifests)
    const container = podTemplate(copy).spec.containers[0]!
    container.volumeMounts = [
      ...(container.volumeMounts ?? []).filter((m) => m.name !== 'config'),
      ...['gateway.yaml', 'mappings.yaml'].map((file) => ({ name: 'config', mountPath: `/etc/bookme-gateway/config/${file}`, subPath: file, readOnly: true }))
    ]
    return copy
  }
  const pod = await startPod(t, { manifests: withSubPaths(render(['Employee'])) })
  await pod.untilReady()
  t.same(pod.syncVolumes(withSubPaths(render(['Admin']))), ['config'], 'the kubelet rewrites the ConfigMap\'s volume')
  // Longer than the other test's reload takes: the gateway watches the folder, whose files here
  // are the bound ones, unchanged.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal(await call(pod), 200, 'still the roles the pod started with')
  t.same(await pod.stop(), { code: 0, signal: null })
})
