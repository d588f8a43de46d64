/**
 * Raw object → `${ENV}` interpolation → schema with defaults → cross-field checks → frozen.
 * Relative file paths become relative to `baseDir` (the config file's folder).
 */
import { dirname, resolve } from 'node:path'
import { Ajv } from 'ajv'
import { readYamlFile } from './yaml-file.js'
import { ConfigSchema, type Config, type SchemaConfig } from './schema.js'
import { interpolateEnv } from './interpolate.js'
import { crossCheck } from './cross-checks.js'
import { ConfigError, formatAjvErrors } from './validation.js'
import { applyFederatedTokenDefault, graphCredentialProblems } from '../groups-overage/index.js'
import { secretFileProblem } from '../backends/secret-file.js'

export { ConfigError }

const DEFAULT_CONFIG_PATH = 'config/gateway.yaml'
const CONFIG_ENV_VAR = 'BOOKME_GATEWAY_CONFIG'

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false })
const validate = ajv.compile<SchemaConfig>(ConfigSchema)

export function resolveConfigPath (flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolve(flag ?? env[CONFIG_ENV_VAR] ?? DEFAULT_CONFIG_PATH)
}

export function loadConfigFile (path: string, env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  return parseConfig(readYamlFile(path, '(file)'), { env, baseDir: dirname(path) })
}

export function parseConfig (raw: unknown, { env = process.env, baseDir = process.cwd() }: { env?: NodeJS.ProcessEnv, baseDir?: string } = {}): Readonly<Config> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(['(root): must be a mapping of sections'])
  const problems: string[] = []
  const candidate = interpolateEnv(structuredClone(raw), env, problems)
  if (!validate(candidate)) {
    problems.push(...formatAjvErrors(validate.errors ?? []))
    throw new ConfigError(dedupe(problems))
  }
  // Cross-field rules would only restate an unset variable's empty value.
  if (problems.length > 0) throw new ConfigError(dedupe(problems))
  const federatedFromEnv = applyFederatedTokenDefault(candidate.entra.graph, env)
  problems.push(...crossCheck(candidate))
  if (problems.length > 0) throw new ConfigError(dedupe(problems))
  candidate.mappings.file = resolve(baseDir, candidate.mappings.file)
  for (const key of candidate.assertion.keys) key.privateKeyFile = resolve(baseDir, key.privateKeyFile)
  for (const tls of [candidate.mappings.mysql?.tls, candidate.cache.redis?.tls]) {
    if (tls === undefined) continue
    for (const key of ['caFile', 'certFile', 'keyFile'] as const) {
      const file = tls[key]
      if (file !== undefined) tls[key] = resolve(baseDir, file)
    }
  }
  const secretProblems = resolvePasswordFiles(candidate, baseDir)
  if (secretProblems.length > 0) throw new ConfigError(secretProblems)
  const graph = candidate.entra.graph
  if (graph !== undefined) {
    for (const key of ['clientSecretFile', ...(federatedFromEnv ? [] : ['federatedTokenFile'] as const)] as const) {
      const file = graph[key]
      if (file !== undefined) graph[key] = resolve(baseDir, file)
    }
    if (graph.clientCertificate !== undefined) graph.clientCertificate = { certFile: resolve(baseDir, graph.clientCertificate.certFile), keyFile: resolve(baseDir, graph.clientCertificate.keyFile) }
    // Read at start (CONTRACT.md §14): a missing or unreadable file is a configuration error.
    const unreadable = graphCredentialProblems(graph, { federatedFromEnv })
    if (unreadable.length > 0) throw new ConfigError(unreadable)
  }
  // The one cast: the cross-checks just passed are what make the schema's shape a Config.
  return deepFreeze(candidate as Config)
}

/** The `passwordFile`s relative to the config file, read at start (CONTRACT.md §14): a missing or unreadable one is a configuration error. */
function resolvePasswordFiles (candidate: SchemaConfig, baseDir: string): string[] {
  const holders = [['mappings.mysql', candidate.mappings.mysql], ['cache.redis', candidate.cache.redis], ['cache.redis.sentinel', candidate.cache.redis?.sentinel]] as const
  const problems: string[] = []
  for (const [at, holder] of holders) {
    if (holder?.passwordFile === undefined) continue
    holder.passwordFile = resolve(baseDir, holder.passwordFile)
    const problem = secretFileProblem(`${at}.passwordFile`, holder.passwordFile)
    if (problem !== undefined) problems.push(problem)
  }
  return problems
}

function dedupe (items: string[]): string[] {
  return [...new Set(items)]
}

function deepFreeze<T> (value: T): Readonly<T> {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const item of Object.values(value)) deepFreeze(item)
  }
  return value
}
