import t, { type Test } from 'tap'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import { parse, stringify } from 'yaml'
import { parseConfig } from '../../src/config/load.js'
import { ConfigSchema } from '../../src/config/schema.js'
import { chartValuesSchema, VALUES_SCHEMA_PATH } from '../helpers/chart-schema.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'
import { makeCertificates } from '../helpers/certs.js'
import { createMappingSource, createSharedStore } from '../../src/mappings/create.js'
import { loadAssertionKeys } from '../../src/assertion-keys.js'
import { generateKeyPairSync } from 'node:crypto'

// The chart cannot be rendered without helm (`.ci/run` lints and renders it where helm exists),
// so these tests prove what they can: values against the schema, the config against the
// gateway's own validation, and every port, path, env var and file the templates name
// against the app and the image.
const CHART = fileURLToPath(new URL('../../helm/bookme-gateway/', import.meta.url))
const read = (path: string): string => readFileSync(join(CHART, path), 'utf8')
const defaults = parse(read('values.yaml')) as Record<string, unknown>
const examples = readdirSync(join(CHART, 'examples')).filter((f) => f.endsWith('.yaml'))
const validateValues = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(VALUES_SCHEMA_PATH, 'utf8')) as object)

/** Helm's coalescing: maps merge key by key, anything else (lists too) is replaced. */
function helmMerge (base: unknown, over: unknown): unknown {
  if (isMap(base) && isMap(over)) {
    const out: Record<string, unknown> = { ...base }
    for (const [key, value] of Object.entries(over)) out[key] = value === null ? undefined : helmMerge(base[key], value)
    return out
  }
  return over === undefined ? base : over
}
function isMap (v: unknown): v is Record<string, unknown> { return v !== null && typeof v === 'object' && !Array.isArray(v) }

t.test('values.schema.json is generated from the gateway\'s config schema and current', async (t) => {
  t.same(JSON.parse(readFileSync(VALUES_SCHEMA_PATH, 'utf8')), chartValuesSchema(), 'run `npm run chart:schema` after a schema change')
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string }
  t.equal((parse(read('Chart.yaml')) as { appVersion: string }).appVersion, pkg.version, 'appVersion = package.json version')
})

/** The env vars the Deployment sets from the Secret, by the Secret key each reads. */
function secretEnv (): Map<string, string> {
  const dict = /range \$env, \$key := dict ((?:"[A-Z_]+" "[a-z-]+" ?)+)/.exec(read('templates/deployment.yaml'))?.[1] ?? ''
  const words = [...dict.matchAll(/"([^"]+)"/g)].map((m) => m[1]!)
  const byKey = new Map<string, string>()
  for (let i = 0; i < words.length; i += 2) byKey.set(words[i + 1]!, words[i]!)
  return byKey
}

/**
 * The environment the templates give the container for these values: the chart's own Secret
 * holds only the secrets.* values that are set (secret.yaml's `with` blocks); an existing
 * Secret is taken to hold every key the chart reads (the examples say which).
 */
function injectedEnv (values: Record<string, unknown>): NodeJS.ProcessEnv {
  const secrets = values.secrets as Record<string, string>
  const valueOfKey = new Map([...read('templates/secret.yaml').matchAll(/with \.Values\.secrets\.(\w+) \}\}\n\s+([a-z-]+):/g)].map((m) => [m[2]!, m[1]!]))
  const env: NodeJS.ProcessEnv = {}
  for (const [key, name] of secretEnv()) {
    const value = secrets.existingSecret ? (key === 'redis-url' ? 'redis://redis.bookme.svc:6379' : `from-existing-secret-${key}`) : secrets[valueOfKey.get(key) ?? '']
    if (value) env[name] = value
  }
  return env
}

/** Every file the config names must come from a mounted Secret item; writes those items under `root`. */
function injectedFiles (values: Record<string, unknown>, root: string, pem: string, t: Test): (path: string) => string {
  const mounts = [...(values.extraVolumeMounts ?? []) as Array<{ name: string, mountPath: string }>]
  const volumes = (values.extraVolumes ?? []) as Array<{ name: string, secret?: { items?: Array<{ key: string, path: string }> } }>
  for (const mount of mounts) {
    const volume = volumes.find((v) => v.name === mount.name)
    t.ok(volume, `volume ${mount.name} exists`)
    for (const item of volume?.secret?.items ?? []) {
      mkdirSync(join(root, mount.mountPath), { recursive: true })
      writeFileSync(join(root, mount.mountPath, item.path), pem)
    }
  }
  // The chart's own mount of the assertion key Secret (made at install: one EC P-256 key).
  const assertionKey = values.assertionKey as { create: boolean, existingSecret: string }
  if (assertionKey.create || assertionKey.existingSecret) {
    mounts.push({ name: 'assertion-keys', mountPath: '/etc/bookme-gateway/keys' })
    mkdirSync(join(root, '/etc/bookme-gateway/keys'), { recursive: true })
    writeFileSync(join(root, '/etc/bookme-gateway/keys/assertion.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'sec1' }))
  }
  return (path) => {
    const mount = mounts.find((m) => path.startsWith(`${m.mountPath}/`))
    t.ok(mount, `${path} lies in a mounted volume`)
    t.ok(mount && existsSync(join(root, path)), `${path} is an item of the mounted Secret`)
    return join(root, path)
  }
}

t.test('default values and each example validate, and start with exactly the env and files the templates inject', async (t) => {
  const certs = makeCertificates(t)
  const root = mkdtempSync(join(tmpdir(), 'bookme-chart-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  t.ok(examples.length >= 4, 'examples exist')
  for (const [name, values] of [['values.yaml', defaults], ...examples.map((file) => [file, helmMerge(defaults, parse(read(`examples/${file}`)))] as const)] as const) {
    const merged = values as Record<string, unknown>
    t.ok(validateValues(merged), `${name}: ${JSON.stringify(validateValues.errors)}`)
    const env = injectedEnv(merged)
    const config = structuredClone(merged.config) as Record<string, Record<string, Record<string, Record<string, string>>>>
    const toLocal = injectedFiles(merged, join(root, name), readFileSync(certs.caFile, 'utf8'), t)
    for (const tls of [config.mappings?.mysql?.tls, config.cache?.redis?.tls]) {
      for (const key of ['caFile', 'certFile', 'keyFile']) if (tls?.[key]) tls[key] = toLocal(tls[key])
    }
    for (const key of (config.assertion?.keys ?? []) as unknown as Array<{ privateKeyFile: string }>) key.privateKeyFile = toLocal(key.privateKeyFile)
    // The ConfigMap's mappings.yaml beside gateway.yaml: relative paths resolve against that folder.
    const configDir = join(root, name, 'etc-bookme-gateway')
    mkdirSync(configDir, { recursive: true })
    writeFileSync(join(configDir, 'mappings.yaml'), stringify(merged.mappingsFile))
    let parsed
    try {
      parsed = parseConfig(config, { env, baseDir: configDir })
    } catch (err) {
      t.fail(`${name}: ${String(err)} (env: ${Object.keys(env).join(', ')})`)
      continue
    }
    // The backends' clients are built (certificate files read and parsed) and the assertion keys
    // loaded, as at start; then closed unused.
    t.equal(loadAssertionKeys(parsed.assertion).length, 1, `${name}: the assertion is on, its key loads (SEC1 PEM, as Sprig's genPrivateKey writes)`)
    const source = createMappingSource(parsed)
    const store = createSharedStore(parsed)
    await Promise.all([source.close(), store.close()])
    t.pass(`${name}: starts`)
    const apis = Object.values(parsed.apis)
    t.ok(apis.every((api) => api.tenancy === 'multi') || name !== 'values.yaml', 'the defaults name no placeholder tenant whose discovery never answers')
  }
})

t.test('the schema rejects wrong types and unknown keys, in the chart and in config', async (t) => {
  const bad: Array<[string, Record<string, unknown>]> = [
    ['unknown top-level key', { ...defaults, replicas: 3 }],
    ['wrong type', { ...defaults, replicaCount: 'two' }],
    ['unknown nested key', { ...defaults, autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 3, cpu: 50 } }],
    ['unknown config key', { ...defaults, config: { ...(defaults.config as object), extra: true } }],
    ['config wrong type', { ...defaults, config: { ...(defaults.config as object), server: { port: 'eighty' } } }],
    ['config bad enum', { ...defaults, config: { ...(defaults.config as object), cache: { store: 'memcached' } } }]
  ]
  for (const [name, values] of bad) t.notOk(validateValues(values), name)
})

t.test('every port, path, file and env var the templates name exists in the app and the image', async (t) => {
  const deployment = read('templates/deployment.yaml')
  const helpers = read('templates/_helpers.tpl')
  const dockerfile = readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8')

  // Probe and scrape paths answer on a real admin port (not 404).
  const upstream = await startUpstream(t)
  const gw = await startTestGateway(t, { routes: [{ name: 'o', prefix: '/o', upstream: upstream.url, auth: 'none' }] })
  const paths = new Set([...deployment.matchAll(/path: (\/[a-z]+)/g), ...read('templates/servicemonitor.yaml').matchAll(/path: (\/[a-z]+)/g)].map((m) => m[1]!))
  t.same([...paths].sort(), ['/healthz', '/metrics', '/readyz'])
  for (const path of paths) t.not((await fetch(gw.adminUrl + path)).status, 404, `${path} exists on the admin port`)

  // Port defaults in the helpers are the gateway's own defaults.
  const server = ConfigSchema.properties.server.properties
  t.match(helpers, new RegExp(`\\.port \\| default ${server.port.default}\\b`))
  t.match(helpers, new RegExp(`\\.adminPort \\| default ${server.adminPort.default}\\b`))
  t.match(helpers, new RegExp(`shutdownGraceMs \\| default ${server.shutdownGraceMs.default}\\b`))
  t.match(deployment, /terminationGracePeriodSeconds: \{\{ add \(include "bookme-gateway.shutdownGraceSeconds" \. \| int\) \.Values\.preStopSleepSeconds 5 \}\}/, 'grace > drain + preStop')

  // The config file path: the ConfigMap key, the mount, the container args and the image's entrypoint agree.
  t.match(read('templates/configmap.yaml'), /^ {2}gateway\.yaml: \|/m)
  t.match(deployment, /mountPath: \/etc\/bookme-gateway\/gateway\.yaml\n\s+subPath: gateway\.yaml\n/)
  t.match(deployment, /args: \["start", "--config", "\/etc\/bookme-gateway\/gateway\.yaml"\]/)
  t.match(dockerfile, /ENTRYPOINT \["\/nodejs\/bin\/node", "dist\/cli\.js", "start", "--config", "\/etc\/bookme-gateway\/gateway\.yaml"\]/)
  t.match(dockerfile, /USER 65532:65532/)
  t.match(deployment, /runAsUser: 65532/)

  // Every ${VAR} a values config uses is an env var the Deployment sets, from a key the chart's Secret can hold.
  const env = secretEnv()
  for (const file of ['values.yaml', ...examples.map((e) => `examples/${e}`)]) {
    for (const m of read(file).matchAll(/\$\{([A-Z_]+)\}/g)) t.ok([...env.values()].includes(m[1]!), `${file}: \${${m[1]}} is set by the Deployment`)
  }
  for (const key of env.keys()) t.match(read('templates/secret.yaml'), new RegExp(`^ {2}${key}:`, 'm'), `secret key ${key}`)

  // Hardening on by default.
  for (const line of ['runAsNonRoot: true', 'readOnlyRootFilesystem: true', 'drop: ["ALL"]', 'type: RuntimeDefault', 'automountServiceAccountToken: false', 'checksum/config:']) {
    t.ok(deployment.includes(line), line)
  }
  t.equal((defaults.autoscaling as { enabled: boolean, minReplicas: number }).enabled, true)
  t.equal((defaults.autoscaling as { minReplicas: number }).minReplicas, 2)
  t.equal((defaults.podDisruptionBudget as { enabled: boolean }).enabled, true)
  t.equal((defaults.networkPolicy as { enabled: boolean }).enabled, true)
})

t.test('the V8 heap ceiling fits the memory limit, in the defaults and each example', async (t) => {
  // Node alone would take a quarter of the limit as its heap: too little (bench/README.md, soak).
  const deployment = read('templates/deployment.yaml')
  t.match(deployment, /name: NODE_OPTIONS\s+value: "--max-old-space-size=\{\{ \.Values\.heapMaxMb \}\}"/)
  const mebibytes = (quantity: string): number => {
    const match = /^(\d+)(Mi|Gi)$/.exec(quantity)
    if (!match) throw new Error(`memory limit ${quantity}: give it in Mi or Gi`)
    return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1)
  }
  for (const [name, values] of [['values.yaml', defaults], ...examples.map((file) => [file, helmMerge(defaults, parse(read(`examples/${file}`)))] as const)] as const) {
    const { heapMaxMb, resources } = values as { heapMaxMb: number, resources: { limits: { memory: string } } }
    t.ok(mebibytes(resources.limits.memory) >= heapMaxMb + 160, `${name}: limits.memory ${resources.limits.memory} ≥ heapMaxMb ${heapMaxMb} + 160Mi`)
  }
})
