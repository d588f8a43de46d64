import type { Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, chmodSync, chownSync, constants, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { manifestOf, type Manifest } from './helm-render.js'
import { freePort } from './services.js'
import { composeArgv, containerEnv, processIdentity, readDockerfile, type ContainerSpec, type EnvSources, type SecurityContext } from './pod-spec.js'

/**
 * Runs the rendered Deployment's container (or a rendered Pod's: a `helm test` hook) on this
 * machine the way a node would: the argv, environment (that and nothing else), user and working
 * directory that Kubernetes composes from the image (Dockerfile) and the pod spec (pod-spec.ts),
 * its volumes (rendered ConfigMaps and Secrets, the test's Secrets standing for those made outside
 * the chart, projected service-account tokens from the test's issuer) mounted at their paths —
 * resolved inside the container's root, as the runtime resolves them — read-only where the spec
 * says, over a read-only root filesystem.
 *
 * A private mount namespace (`unshare -m`) holds all of it: an overlay of this machine's root
 * (writes go to a tmpfs, so nothing reaches the real /etc or /app), the image's files bound in,
 * then `chroot` and `setpriv` to the pod's numeric user without capabilities. Needs root, as CI runs.
 * The overlay carries the root filesystem only: other mounts of this machine (a container's bound
 * /etc/hosts, say) are not in the pod's root, which is why every address here is an IP.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const DOCKERFILE = join(ROOT, 'Dockerfile')

/** The image's own files here: WORKDIR /app is the repository (dist/ from `npm run build`), its node the one running the tests. */
const IMAGE_FILES: Record<string, string> = { '/app': ROOT, '/nodejs/bin/node': process.execPath }
/** The base image's (distroless) environment, beneath the Dockerfile's ENV. */
const BASE_IMAGE_ENV: Array<[string, string]> = [['PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']]

export interface PodOptions {
  manifests: Manifest[]
  /** Secrets of the namespace made outside the chart (existingSecret and the like): name → key → content. */
  secrets?: Record<string, Record<string, string>>
  /** The pod's namespace (fieldRef metadata.namespace). */
  namespace?: string
  /** A rendered Pod to run, by name (a `helm test` hook); the Deployment's pod template when absent. */
  pod?: string
  /**
   * The kubelet's TokenRequest for a projected `serviceAccountToken` source (the API server signs
   * it): the token written to the volume. Without it such a volume is refused.
   */
  serviceAccountToken?: (request: ServiceAccountTokenRequest) => string
}

export interface ServiceAccountTokenRequest {
  namespace: string
  serviceAccount: string
  pod: string
  /** The source's audience; the API server's own when empty. */
  audience: string | undefined
  expirationSeconds: number
}

export interface ReadyAnswer { status: number, body: { ready?: boolean, dependencies?: Record<string, { state: string, detail?: string }> } }

export interface RunningPod {
  argv: string[]
  env: Record<string, string>
  identity: { uid: number, gid: number, groups: number[] }
  /** The container's ports, by name. */
  ports: Record<string, number>
  child: ChildProcess
  output (): string
  /** Polls the startup probe's URL until it answers 200; throws with the pod's output if it exits or times out. */
  untilReady (timeoutMs?: number): Promise<ReadyAnswer>
  /** What the kernel says of the running process: its ids, privileges and mounts. */
  processState (): ProcessState
  /** SIGTERM, as the kubelet stops a pod; SIGKILL after terminationGracePeriodSeconds. */
  stop (): Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** The process's end by itself, once its output is all read. */
  exited (): Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /**
   * The kubelet's sync once the API server holds `manifests` (a `helm upgrade` of the same
   * release): each ConfigMap, Secret or projected volume whose files would differ is rewritten
   * in place, as the kubelet's AtomicWriter does, while the process runs. The pod spec stays the
   * one the pod started with. Returns the names of the volumes rewritten.
   */
  syncVolumes (manifests: Manifest[]): string[]
}

export interface ProcessState {
  uid: number
  gid: number
  groups: number[]
  noNewPrivs: boolean
  capBounding: bigint
  /** Mount point → whether it is read-only, as the process sees them. */
  mounts: Map<string, boolean>
  /** A path as the process's root resolves it (its symbolic links followed there): a volumeMount's mountPath → its mount point. */
  resolve (path: string): string
}

interface PodSpec {
  serviceAccountName?: string
  containers: ContainerSpec[]
  securityContext?: SecurityContext
  terminationGracePeriodSeconds?: number
  volumes?: Volume[]
}

interface KeyToPath { key: string, path: string, mode?: number }
interface Volume {
  name: string
  configMap?: { name: string, items?: KeyToPath[], defaultMode?: number, optional?: boolean }
  secret?: { secretName: string, items?: KeyToPath[], defaultMode?: number, optional?: boolean }
  projected?: {
    defaultMode?: number
    sources: Array<{
      secret?: { name: string, items?: KeyToPath[], optional?: boolean }
      configMap?: { name: string, items?: KeyToPath[], optional?: boolean }
      serviceAccountToken?: { path: string, audience?: string, expirationSeconds?: number }
    }>
  }
  emptyDir?: { sizeLimit?: string, medium?: string }
}

/** The pod spec to run and its pod's name: a rendered Pod's, or the Deployment's template (its first replica). */
function podToRun (manifests: Manifest[], name: string | undefined): { podName: string, pod: PodSpec } {
  if (name !== undefined) return { podName: name, pod: manifestOf<{ spec: PodSpec }>(manifests, 'Pod', name).spec }
  const deployment = manifestOf<{ spec: { template: { spec: PodSpec } } }>(manifests, 'Deployment')
  return { podName: `${deployment.metadata.name}-0`, pod: deployment.spec.template.spec }
}

export async function startPod (t: Test, { manifests, secrets = {}, namespace = 'bookme', pod: podManifest, serviceAccountToken }: PodOptions): Promise<RunningPod> {
  if (process.getuid?.() !== 0) throw new Error('the pod start tests need root (as CI runs): a mount namespace lays the pod\'s volumes over /etc and /tmp without touching the real ones')
  if (!existsSync(join(ROOT, 'dist/cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` first (the image runs the built CLI)')
  const { podName, pod } = podToRun(manifests, podManifest)
  if (pod.containers.length !== 1) throw new Error(`expected one container, the pod has ${pod.containers.length}`)
  const container = pod.containers[0]!
  const image = readDockerfile(DOCKERFILE)
  image.env = [...BASE_IMAGE_ENV.filter(([name]) => !image.env.some(([n]) => n === name)), ...image.env]
  const tokens = (source: { audience?: string, expirationSeconds?: number }): string => {
    if (serviceAccountToken === undefined) throw new Error('a projected serviceAccountToken volume: pass serviceAccountToken (pod-service-accounts.ts) to issue its token')
    // The API server's defaults: the pod's service account ("default" when unnamed), one hour.
    return serviceAccountToken({ namespace, serviceAccount: pod.serviceAccountName ?? 'default', pod: podName, audience: source.audience || undefined, expirationSeconds: source.expirationSeconds ?? 3600 })
  }

  // What the API server holds: the rendered manifests, until syncVolumes is given newer ones.
  let current = manifests
  const rendered = (kind: string, name: string): Manifest | undefined => current.find((m) => m.kind === kind && m.metadata.name === name)
  const sources: EnvSources = {
    secret (name) {
      const secret = rendered('Secret', name) as { data?: Record<string, string>, stringData?: Record<string, string> } | undefined
      if (secret === undefined) return secrets[name]
      const data = Object.fromEntries(Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]))
      return { ...data, ...secret.stringData }
    },
    configMap (name) {
      return (rendered('ConfigMap', name) as { data?: Record<string, string> } | undefined)?.data
    },
    field (path) {
      const fields: Record<string, string> = { 'metadata.name': podName, 'metadata.namespace': namespace, 'status.podIP': '127.0.0.1', 'spec.nodeName': 'node-0' }
      if (fields[path] === undefined) throw new Error(`fieldRef ${path} is not emulated`)
      return fields[path]
    }
  }

  const { declared, process: env } = containerEnv(image, container, sources)
  env.HOSTNAME = podName
  const argv = composeArgv(image, container, declared)
  const identity = processIdentity(image, pod.securityContext, container.securityContext)
  const security = container.securityContext ?? {}
  const workdir = container.workingDir ?? image.workdir

  const dir = mkdtempSync(join(tmpdir(), 'bookme-pod-'))
  chmodSync(dir, 0o755)
  const volumes = new Map<string, string>()
  const fsGroup = pod.securityContext?.fsGroup
  for (const volume of pod.volumes ?? []) volumes.set(volume.name, materialize(volume, join(dir, 'volumes', volume.name), sources, fsGroup, tokens))
  const mounts = (container.volumeMounts ?? []).map((mount) => {
    const volume = volumes.get(mount.name)
    if (volume === undefined) throw new Error(`volumeMount ${mount.mountPath}: no volume ${mount.name}`)
    const source = mount.subPath ? join(volume, mount.subPath) : volume
    if (!existsSync(source)) throw new Error(`volumeMount ${mount.mountPath}: subPath ${mount.subPath ?? ''} is not in volume ${mount.name}`)
    return { source, target: mount.mountPath, readOnly: mount.readOnly === true }
  })
  const scratch = join(dir, 'ns')
  mkdirSync(scratch)

  const script = sandboxScript({ scratch, mounts, readOnlyRoot: security.readOnlyRootFilesystem === true, identity, noNewPrivileges: security.allowPrivilegeEscalation === false, dropAll: (security.capabilities?.drop ?? []).includes('ALL'), workdir, argv, env })
  const child = spawn(which('unshare'), ['--mount', '--propagation', 'private', '--', which('sh'), '-c', script], { env: sandboxEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exit = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const closed = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exit
    }
    rmSync(dir, { recursive: true, force: true })
  })

  const ports = Object.fromEntries((container.ports ?? []).filter((p) => p.name).map((p) => [p.name!, p.containerPort]))
  const probe = container.startupProbe?.httpGet ?? container.readinessProbe?.httpGet
  return {
    argv,
    env,
    identity,
    ports,
    child,
    output: () => output,
    processState () {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
      const field = (name: string): string[] => (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean)
      const mounts = new Map<string, boolean>()
      // mountinfo: id parent major:minor root mount-point options …
      for (const line of readFileSync(`/proc/${child.pid}/mountinfo`, 'utf8').split('\n').filter(Boolean)) {
        const [, , , , point = '', options = ''] = line.split(' ')
        mounts.set(point, options.split(',').includes('ro'))
      }
      return {
        uid: Number(field('Uid')[0]),
        gid: Number(field('Gid')[0]),
        groups: field('Groups').map(Number),
        noNewPrivs: field('NoNewPrivs')[0] === '1',
        capBounding: BigInt(`0x${field('CapBnd')[0] ?? '0'}`),
        mounts,
        resolve: (path) => resolveInRoot(`/proc/${child.pid}/root`, path)
      }
    },
    async untilReady (timeoutMs = 20_000) {
      if (probe === undefined) throw new Error('the container has no HTTP startup or readiness probe')
      const port = typeof probe.port === 'number' ? probe.port : ports[probe.port]
      if (port === undefined) throw new Error(`probe port ${probe.port} is not a container port`)
      const url = `http://127.0.0.1:${port}${probe.path}`
      const deadline = Date.now() + timeoutMs
      let last: ReadyAnswer | undefined
      while (Date.now() < deadline) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the pod exited (${child.exitCode ?? child.signalCode}) before ${probe.path} answered 200\nargv: ${JSON.stringify(argv)}\n${output}`)
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(1000) })
          last = { status: res.status, body: await res.json() as ReadyAnswer['body'] }
          if (res.status === 200) return last
        } catch {}
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${JSON.stringify(last)})\n${output}`)
    },
    async exited () {
      return await closed
    },
    syncVolumes (next) {
      current = next
      const rewritten: string[] = []
      for (const volume of pod.volumes ?? []) {
        if (volume.emptyDir) continue
        const path = volumes.get(volume.name)!
        const data = join(path, '..data')
        // A token keeps its own clock (the kubelet refreshes it near expiry): the one written stays.
        const payload = payloadOf(volume, sources, fsGroup, (source) => readFileSync(join(data, source.path), 'utf8'))
        const unchanged = [...payload].every(([file, { content }]) => existsSync(join(data, file)) && readFileSync(join(data, file), 'utf8') === content) &&
          readdirSync(data, { recursive: true }).filter((file) => statSync(join(data, String(file))).isFile()).length === payload.size
        if (unchanged) continue
        writeAtomically(path, payload, fsGroup)
        rewritten.push(volume.name)
      }
      return rewritten
    },
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return await exit
      child.kill('SIGTERM')
      const grace = setTimeout(() => child.kill('SIGKILL'), (pod.terminationGracePeriodSeconds ?? 30) * 1000)
      const result = await exit
      clearTimeout(grace)
      return result
    }
  }
}

/**
 * The `--set` overrides every pod start makes: Entra is the local issuer and the ports free ones
 * (another test may hold 8080). Addresses only: the command's shape stays the chart's.
 */
export async function localAddresses (issuer: { url: string }): Promise<Record<string, unknown>> {
  return { 'config.entra.authority': issuer.url, 'config.server.port': await freePort(), 'config.server.adminPort': await freePort() }
}

/** `localAddresses` plus the local MySQL, Redis and Graph an example's backends are pointed at. */
export async function localBackendAddresses (issuer: { url: string }, { db, redis, graph }: { db: { port: number }, redis: { url: string }, graph: { url: string } }): Promise<Record<string, unknown>> {
  return { ...await localAddresses(issuer), 'config.mappings.mysql.host': '127.0.0.1', 'config.mappings.mysql.port': db.port, 'config.cache.redis.url': redis.url, 'config.entra.graph.endpoint': graph.url }
}

/**
 * Starts the rendered Deployment's pod and checks what CONTRACT.md §16 asks of every start: the
 * image's entrypoint runs `start` once, as the pod's user without privileges on a read-only
 * root with read-only volumes, `/readyz` answers 200 with every dependency up, and SIGTERM
 * ends it with exit 0. `whileReady` looks at the ready pod before it is stopped. Returns the pod
 * (stopped) and its readiness answer.
 */
export async function podStartsReady (t: Test, options: PodOptions, whileReady?: (pod: RunningPod, ready: ReadyAnswer) => Promise<void>): Promise<{ pod: RunningPod, ready: ReadyAnswer }> {
  const pod = await startPod(t, options)
  t.same(pod.argv.slice(0, 3), ['/nodejs/bin/node', 'dist/cli.js', 'start'], 'the image runs the CLI with the command start')
  t.equal(pod.argv.filter((arg) => arg === 'start').length, 1, `start once: ${JSON.stringify(pod.argv)}`)
  const ready = await pod.untilReady()
  t.equal(ready.status, 200, '/readyz 200')
  const down = Object.entries(ready.body.dependencies ?? {}).filter(([, d]) => d.state !== 'up')
  t.same(down, [], 'every dependency is up')
  const state = pod.processState()
  t.same({ uid: state.uid, gid: state.gid, groups: state.groups }, pod.identity, `runs as ${pod.identity.uid}:${pod.identity.gid}`)
  t.not(state.uid, 0, 'not root')
  t.ok(state.noNewPrivs, 'no privilege escalation')
  t.equal(state.capBounding, 0n, 'no capabilities')
  t.equal(state.mounts.get('/'), true, 'read-only root filesystem')
  const deployment = manifestOf<{ spec: { template: { spec: { containers: ContainerSpec[] } } } }>(options.manifests, 'Deployment')
  for (const mount of deployment.spec.template.spec.containers[0]!.volumeMounts ?? []) {
    t.equal(state.mounts.get(state.resolve(mount.mountPath)), mount.readOnly === true, `${mount.mountPath} mounted ${mount.readOnly === true ? 'read-only' : 'writable'}`)
  }
  if (whileReady) await whileReady(pod, ready)
  t.same(await pod.stop(), { code: 0, signal: null }, 'SIGTERM: drained and exited 0')
  return { pod, ready }
}

export interface FinishedPod { argv: string[], env: Record<string, string>, code: number | null, signal: NodeJS.Signals | null, output: string }

/**
 * Runs a rendered Pod whose container ends by itself (a `helm test` hook, `restartPolicy: Never`)
 * once, to its exit: composed and sandboxed as startPod composes the Deployment's. SIGKILL after
 * `timeoutMs`, as `helm test --timeout` would give up on it.
 */
export async function runPodToExit (t: Test, options: PodOptions & { pod: string }, timeoutMs = 20_000): Promise<FinishedPod> {
  const pod = await startPod(t, options)
  const timer = setTimeout(() => pod.child.kill('SIGKILL'), timeoutMs)
  const { code, signal } = await pod.exited()
  clearTimeout(timer)
  return { argv: pod.argv, env: pod.env, code, signal, output: pod.output() }
}

/** A projected serviceAccountToken source's token: issued anew, or the one the volume holds. */
type TokenSource = (source: { path: string, audience?: string, expirationSeconds?: number }) => string

/** A volume's files, by their path in it: what the kubelet's AtomicWriter is given. */
type Payload = Map<string, { content: string, mode: number }>

/** A volume's files as the kubelet lays them out: one file per key (or per listed item), mode `defaultMode` (0644 unless set). */
function payloadOf (volume: Volume, sources: EnvSources, fsGroup: number | undefined, tokens: TokenSource): Payload {
  const payload: Payload = new Map()
  const add = (path: string, content: string, mode: number): void => {
    if (payload.has(path)) throw new Error(`volume ${volume.name}: two sources write ${path}`)
    payload.set(path, { content, mode })
  }
  const write = (kind: 'Secret' | 'ConfigMap', name: string, items: KeyToPath[] | undefined, optional: boolean | undefined, defaultMode: number | undefined): void => {
    const data = kind === 'Secret' ? sources.secret(name) : sources.configMap(name)
    if (data === undefined) {
      if (optional === true) return
      throw new Error(`volume ${volume.name}: ${kind} ${name} not found: the pod would not start`)
    }
    for (const item of items ?? Object.keys(data).map((key): KeyToPath => ({ key, path: key }))) {
      const content = data[item.key]
      if (content === undefined) {
        if (optional === true) continue
        throw new Error(`volume ${volume.name}: ${kind} ${name} has no key ${item.key}: the pod would not start`)
      }
      add(item.path, content, item.mode ?? defaultMode ?? 0o644)
    }
  }
  if (volume.configMap) write('ConfigMap', volume.configMap.name, volume.configMap.items, volume.configMap.optional, volume.configMap.defaultMode)
  else if (volume.secret) write('Secret', volume.secret.secretName, volume.secret.items, volume.secret.optional, volume.secret.defaultMode)
  else if (volume.projected) {
    for (const source of volume.projected.sources) {
      if (source.secret) write('Secret', source.secret.name, source.secret.items, source.secret.optional, volume.projected.defaultMode)
      else if (source.configMap) write('ConfigMap', source.configMap.name, source.configMap.items, source.configMap.optional, volume.projected.defaultMode)
      // The kubelet (pkg/volume/projected): 0600 when the pod has an fsGroup, which then adds
      // the group's read bit ("we depend on SetVolumeOwnership to change from 0600 to 0640").
      else if (source.serviceAccountToken) add(source.serviceAccountToken.path, tokens(source.serviceAccountToken), fsGroup !== undefined ? 0o600 : volume.projected.defaultMode ?? 0o644)
      else throw new Error(`volume ${volume.name}: projected source ${JSON.stringify(source)} is not emulated`)
    }
  } else {
    throw new Error(`volume ${volume.name}: type ${Object.keys(volume).filter((k) => k !== 'name').join(', ')} is not emulated`)
  }
  return payload
}

/**
 * A volume as the kubelet first writes it (writeAtomically); with the pod's fsGroup the files
 * belong to that group and gain its read bits (the kubelet's SetVolumeOwnership). An emptyDir is
 * an empty folder anyone may write.
 */
function materialize (volume: Volume, path: string, sources: EnvSources, fsGroup: number | undefined, tokens: TokenSource): string {
  mkdirSync(path, { recursive: true })
  if (volume.emptyDir) {
    chmodSync(path, 0o777)
    if (fsGroup !== undefined) {
      chownSync(path, 0, fsGroup)
      chmodSync(path, 0o2777)
    }
    return path
  }
  writeAtomically(path, payloadOf(volume, sources, fsGroup, tokens), fsGroup)
  chmodSync(path, 0o755)
  if (fsGroup !== undefined) ownByGroup(path, fsGroup)
  return path
}

let generation = 0

/**
 * The kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go), for a first write and every
 * update alike: the files go into a new timestamped folder, `..data_tmp` pointing at it is
 * renamed over `..data` (one atomic step for the whole volume), each top-level name is a link
 * into `..data`, and the previous folder is removed. A process that holds the volume's folder
 * sees the new files at once; a subPath mount, bound to the old folder's file when the container
 * started, never does.
 */
function writeAtomically (dir: string, payload: Payload, fsGroup: number | undefined): void {
  const previous = existsSync(join(dir, '..data')) ? readlinkSync(join(dir, '..data')) : undefined
  const stamp = new Date().toISOString().replace(/[-T:]/g, '_').replace(/\..*$/, '')
  const folder = join(dir, `..${stamp}.${process.pid}${String(++generation).padStart(6, '0')}`)
  mkdirSync(folder)
  for (const [path, { content, mode }] of payload) {
    const file = join(folder, path)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, content)
    chmodSync(file, mode)
  }
  chmodSync(folder, 0o755)
  if (fsGroup !== undefined) ownByGroup(folder, fsGroup)
  symlinkSync(basename(folder), join(dir, '..data_tmp'))
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  const names = new Set([...payload.keys()].map((path) => path.split('/')[0]!))
  for (const name of names) if (!existsSync(join(dir, name))) symlinkSync(join('..data', name), join(dir, name))
  for (const name of readdirSync(dir)) if (!name.startsWith('..') && !names.has(name)) rmSync(join(dir, name))
  if (previous !== undefined) rmSync(join(dir, previous), { recursive: true, force: true })
}

function ownByGroup (path: string, gid: number): void {
  const stat = lstatSync(path)
  lchownSync(path, 0, gid)
  if (stat.isSymbolicLink()) return
  if (stat.isDirectory()) {
    chmodSync(path, (stat.mode & 0o7777) | 0o2550)
    for (const entry of readdirSync(path)) ownByGroup(join(path, entry), gid)
  } else {
    chmodSync(path, (stat.mode & 0o7777) | 0o440)
  }
}

/**
 * `path` with its symbolic links followed inside `root` (a process's /proc/<pid>/root): each
 * link read there, an absolute one restarting from that root, never from this machine's.
 */
function resolveInRoot (root: string, path: string): string {
  const parts = path.split('/').filter(Boolean)
  let resolved = ''
  let links = 0
  while (parts.length > 0) {
    const part = parts.shift()!
    if (part === '.') continue
    if (part === '..') {
      resolved = resolved.slice(0, resolved.lastIndexOf('/'))
      continue
    }
    let link: string
    try {
      link = readlinkSync(root + resolved + '/' + part)
    } catch {
      resolved += '/' + part // not a link (or not there): taken as written
      continue
    }
    if (++links > 40) throw new Error(`${path}: too many levels of symbolic links`)
    parts.unshift(...link.split('/').filter(Boolean))
    if (link.startsWith('/')) resolved = ''
  }
  return resolved || '/'
}

const q = (value: string): string => `'${value.replace(/'/g, '\'\\\'\'')}'`

function which (name: string): string {
  for (const folder of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(delimiter)]) {
    const path = join(folder, name)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {}
  }
  throw new Error(`${name} not found (util-linux, mount and coreutils provide the pod sandbox's tools)`)
}

interface SandboxPlan {
  scratch: string
  mounts: Array<{ source: string, target: string, readOnly: boolean }>
  readOnlyRoot: boolean
  identity: { uid: number, gid: number, groups: number[] }
  noNewPrivileges: boolean
  dropAll: boolean
  workdir: string
  argv: string[]
  /** The container's environment, all of it and nothing else. */
  env: Record<string, string>
}

/** The shell's environment: the container's values by position (POD_ENV_0…), where no test runner looks for its own variables. */
function sandboxEnv (env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.values(env).map((value, i) => [`POD_ENV_${i}`, value]))
}

/** The shell run inside the new mount namespace: build the pod's root, then become the pod's process. */
function sandboxScript (plan: SandboxPlan): string {
  const [mount, chroot, setpriv, env, mkdir, realpath] = ['mount', 'chroot', 'setpriv', 'env', 'mkdir', 'realpath'].map(which) as [string, string, string, string, string, string]
  const S = q(plan.scratch)
  const R = q(join(plan.scratch, 'root'))
  const at = (path: string): string => q(join(plan.scratch, 'root', path))
  const lines = [
    'set -eu',
    // The container's root: this machine's root under an overlay whose writes land in a tmpfs.
    `${mount} -t tmpfs -o mode=0755 tmpfs ${S}`,
    `${mkdir} ${S}/upper ${S}/work ${R}`,
    `${mount} -t overlay overlay -o lowerdir=/,upperdir=${S}/upper,workdir=${S}/work ${R}`,
    `${mount} --rbind /proc ${at('/proc')}`,
    `${mount} --rbind /dev ${at('/dev')}`,
    `${mount} --rbind /sys ${at('/sys')}`
  ]
  // A mount's target with its symbolic links resolved inside the container's root, as the runtime
  // resolves it (runc: filepath-securejoin): /var/run is a link to /run in Debian's images, and
  // followed from outside the root it would lead to this machine's own /run.
  const bind = (source: string, target: string, readOnly: boolean): void => {
    const isDir = statSync(source).isDirectory()
    lines.push(`t=${R}$(${chroot} ${R} ${realpath} -m -- ${q(target)})`)
    lines.push(isDir ? `${mkdir} -p "$t"` : `${mkdir} -p "\${t%/*}" && { [ -e "$t" ] || : > "$t"; }`)
    lines.push(`${mount} --bind ${q(source)} "$t"`)
    if (readOnly) lines.push(`${mount} -o remount,bind,ro "$t"`)
  }
  for (const [imagePath, here] of Object.entries(IMAGE_FILES)) bind(here, imagePath, true)
  // Shallow paths first, as the runtime orders them, so a deeper mount is not hidden by its parent's.
  for (const m of [...plan.mounts].sort((a, b) => a.target.split('/').length - b.target.split('/').length)) bind(m.source, m.target, m.readOnly)
  if (plan.readOnlyRoot) lines.push(`${mount} -o remount,bind,ro ${R}`)
  const { uid, gid, groups } = plan.identity
  const privileges = [
    `--reuid=${uid}`, `--regid=${gid}`, groups.length > 0 ? `--groups=${groups.join(',')}` : '--clear-groups',
    ...(plan.noNewPrivileges ? ['--no-new-privs'] : []),
    ...(plan.dropAll ? ['--inh-caps=-all', '--bounding-set=-all'] : [])
  ]
  // `env -i` and the container's variables only: the shell's own (PWD) and whatever the test
  // runner adds to the environment of every child it spawns (tap: NODE_OPTIONS --import …) are
  // not the container's. Each value comes from the shell's environment (sandboxEnv), not the script.
  const variables = Object.keys(plan.env).map((name, i) => `${q(`${name}=`)}"$POD_ENV_${i}"`)
  lines.push(`exec ${chroot} ${R} ${setpriv} ${privileges.join(' ')} -- ${env} -i -C ${q(plan.workdir)} ${variables.join(' ')} ${plan.argv.map(q).join(' ')}`)
  return lines.join('\n')
}
