import { readFileSync } from 'node:fs'

/**
 * How a container runtime and the kubelet turn an image and a pod's container spec into the
 * process they start: argv, environment, working directory. Written from the Kubernetes
 * documentation ("Define a Command and Arguments for a Container", "Dependent Environment
 * Variables") and the kubelet's expansion code (third_party/forked/golang/expansion), so the
 * pod start tests run exactly what a cluster would.
 */

/** What the image's final stage sets (Dockerfile reference: ENTRYPOINT, CMD, ENV, WORKDIR, USER). */
export interface ImageConfig {
  entrypoint: string[]
  cmd: string[]
  env: Array<[string, string]>
  workdir: string
  user: string | undefined
}

/** The final stage of a Dockerfile; ENTRYPOINT and CMD must be in JSON (exec) form. */
export function readDockerfile (path: string): ImageConfig {
  const lines = readFileSync(path, 'utf8').replace(/\\\n/g, ' ').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))
  let from = -1
  lines.forEach((line, i) => { if (/^FROM\s/i.test(line)) from = i })
  const image: ImageConfig = { entrypoint: [], cmd: [], env: [], workdir: '/', user: undefined }
  let entrypointSet = false
  for (const line of lines.slice(from + 1)) {
    const [, instruction = '', rest = ''] = /^(\w+)\s+(.*)$/.exec(line) ?? []
    switch (instruction.toUpperCase()) {
      case 'ENTRYPOINT':
        image.entrypoint = execForm(instruction, rest)
        // Docker: an ENTRYPOINT resets a CMD inherited from the base image.
        if (!entrypointSet) image.cmd = []
        entrypointSet = true
        break
      case 'CMD':
        image.cmd = execForm(instruction, rest)
        break
      case 'ENV':
        for (const [, name = '', value = ''] of rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
          image.env = image.env.filter(([n]) => n !== name)
          image.env.push([name, value.startsWith('"') ? JSON.parse(value) as string : value])
        }
        break
      case 'WORKDIR':
        image.workdir = rest.startsWith('/') ? rest : `${image.workdir.replace(/\/$/, '')}/${rest}`
        break
      case 'USER':
        image.user = rest
        break
    }
  }
  if (!entrypointSet) throw new Error(`${path}: the final stage sets no ENTRYPOINT (the base image's is not known here)`)
  return image
}

function execForm (instruction: string, rest: string): string[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(rest)
  } catch {
    throw new Error(`${instruction} ${rest}: only the JSON (exec) form is supported; the shell form would need a shell, which the image lacks`)
  }
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`${instruction}: a JSON array of strings`)
  return parsed
}

/**
 * Kubernetes' `$(VAR)` expansion: `$(NAME)` becomes the variable's value when it is defined and
 * stays as written otherwise; `$$` is a literal `$`; any other `$` is kept.
 */
export function expandKubernetes (input: string, lookup: (name: string) => string | undefined): string {
  let out = ''
  let checkpoint = 0
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue
    out += input.slice(checkpoint, cursor)
    const next = input.slice(cursor + 1)
    let advance = 1
    if (next[0] === '$') {
      out += '$'
    } else if (next[0] === '(') {
      const close = next.indexOf(')')
      if (close === -1) {
        out += '$('
      } else {
        const name = next.slice(1, close)
        out += lookup(name) ?? `$(${name})`
        advance = close + 1
      }
    } else {
      out += `$${next[0]}`
    }
    cursor += advance
    checkpoint = cursor + 1
  }
  return out + input.slice(checkpoint)
}

export interface EnvVar {
  name: string
  value?: string
  valueFrom?: {
    secretKeyRef?: { name: string, key: string, optional?: boolean }
    configMapKeyRef?: { name: string, key: string, optional?: boolean }
    fieldRef?: { fieldPath: string }
  }
}

export interface ContainerSpec {
  name: string
  image?: string
  command?: string[]
  args?: string[]
  workingDir?: string
  env?: EnvVar[]
  envFrom?: Array<{ prefix?: string, secretRef?: { name: string, optional?: boolean }, configMapRef?: { name: string, optional?: boolean } }>
  ports?: Array<{ name?: string, containerPort: number }>
  volumeMounts?: Array<{ name: string, mountPath: string, subPath?: string, readOnly?: boolean }>
  securityContext?: SecurityContext
  startupProbe?: Probe
  readinessProbe?: Probe
  livenessProbe?: Probe
}

export interface SecurityContext {
  runAsUser?: number
  runAsGroup?: number
  runAsNonRoot?: boolean
  fsGroup?: number
  supplementalGroups?: number[]
  readOnlyRootFilesystem?: boolean
  allowPrivilegeEscalation?: boolean
  capabilities?: { drop?: string[], add?: string[] }
}

export interface Probe { httpGet?: { path: string, port: number | string } }

/** Where the values of `valueFrom` and `envFrom` come from: the Secrets and ConfigMaps of the namespace. */
export interface EnvSources {
  secret (name: string): Record<string, string> | undefined
  configMap (name: string): Record<string, string> | undefined
  field (path: string): string
}

/**
 * The container's environment as the kubelet builds it (envFrom first, then env in order, each
 * value expanded against the variables before it), laid over the image's ENV as the runtime does.
 * Returns both: `declared` (what `$(VAR)` in command and args may name) and `process` (what the
 * process sees).
 */
export function containerEnv (image: ImageConfig, container: ContainerSpec, sources: EnvSources): { declared: Map<string, string>, process: Record<string, string> } {
  const declared = new Map<string, string>()
  for (const from of container.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef
    if (ref === undefined) continue
    const data = from.secretRef ? sources.secret(ref.name) : sources.configMap(ref.name)
    if (data === undefined) {
      if (ref.optional === true) continue
      throw new Error(`envFrom: ${from.secretRef ? 'Secret' : 'ConfigMap'} ${ref.name} not found: the pod would not start`)
    }
    for (const [key, value] of Object.entries(data)) declared.set(`${from.prefix ?? ''}${key}`, value)
  }
  for (const variable of container.env ?? []) {
    if (variable.valueFrom === undefined) {
      declared.set(variable.name, expandKubernetes(variable.value ?? '', (name) => declared.get(name)))
      continue
    }
    const { secretKeyRef, configMapKeyRef, fieldRef } = variable.valueFrom
    if (fieldRef) {
      declared.set(variable.name, sources.field(fieldRef.fieldPath))
      continue
    }
    const ref = secretKeyRef ?? configMapKeyRef
    if (ref === undefined) throw new Error(`env ${variable.name}: unsupported valueFrom ${JSON.stringify(variable.valueFrom)}`)
    const kind = secretKeyRef ? 'Secret' : 'ConfigMap'
    const data = secretKeyRef ? sources.secret(ref.name) : sources.configMap(ref.name)
    const value = data?.[ref.key]
    if (value !== undefined) declared.set(variable.name, value)
    else if (ref.optional !== true) throw new Error(`env ${variable.name}: ${kind} ${ref.name} ${data ? `has no key ${ref.key}` : 'not found'}: the pod would not start`)
  }
  const processEnv: Record<string, string> = Object.fromEntries(image.env)
  for (const [name, value] of declared) processEnv[name] = value
  return { declared, process: processEnv }
}

/**
 * argv as Kubernetes composes it with the image: `command` replaces ENTRYPOINT (and drops CMD),
 * `args` replace CMD; `$(VAR)` in either names the container's declared env.
 */
export function composeArgv (image: ImageConfig, container: Pick<ContainerSpec, 'command' | 'args'>, declared: Map<string, string>): string[] {
  const command = container.command ?? []
  const args = container.args ?? []
  const argv = command.length > 0 ? [...command, ...args] : [...image.entrypoint, ...(args.length > 0 ? args : image.cmd)]
  return argv.map((arg) => expandKubernetes(arg, (name) => declared.get(name)))
}

/** uid, gid and supplementary groups: the container's securityContext over the pod's, over the image's USER. */
export function processIdentity (image: ImageConfig, pod: SecurityContext = {}, container: SecurityContext = {}): { uid: number, gid: number, groups: number[] } {
  const [imageUser, imageGroup] = (image.user ?? '0').split(':')
  const numeric = (value: string | undefined, what: string): number => {
    if (value === undefined || !/^\d+$/.test(value)) throw new Error(`${what} ${value ?? ''} is not numeric: give runAsUser/runAsGroup in the pod`)
    return Number(value)
  }
  const uid = container.runAsUser ?? pod.runAsUser ?? numeric(imageUser, 'image USER')
  const gid = container.runAsGroup ?? pod.runAsGroup ?? (imageGroup === undefined ? 0 : numeric(imageGroup, 'image USER group'))
  const nonRoot = container.runAsNonRoot ?? pod.runAsNonRoot
  if (nonRoot === true && uid === 0) throw new Error('runAsNonRoot with uid 0: the kubelet would refuse to start the container')
  const groups = [...new Set([...(pod.fsGroup === undefined ? [] : [pod.fsGroup]), ...(pod.supplementalGroups ?? [])])]
  return { uid, gid, groups }
}
