import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { Ajv, type ErrorObject } from 'ajv'
import { parse as parseYaml } from 'yaml'
import { ConfigSchema, type Config } from './schema.js'
import { interpolateEnv } from './interpolate.js'
import { crossCheck } from './cross-checks.js'

export const DEFAULT_CONFIG_PATH = 'config/gateway.yaml'
export const CONFIG_ENV_VAR = 'BOOKME_GATEWAY_CONFIG'

/** Thrown with every problem found, each as `path: message`; the CLI prints them and exits 78. */
export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false })
const validate = ajv.compile<Config>(ConfigSchema)

export function resolveConfigPath (flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolve(flag ?? env[CONFIG_ENV_VAR] ?? DEFAULT_CONFIG_PATH)
}

export function loadConfigFile (path: string, env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError([`(file): cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`])
  }
  let raw: unknown
  try {
    raw = parseYaml(text, { strict: true, uniqueKeys: true, prettyErrors: false })
  } catch (err) {
    throw new ConfigError([`(yaml): ${(err as Error).message.split('\n')[0]}`])
  }
  return parseConfig(raw, { env, baseDir: dirname(path) })
}

/**
 * Raw object → `${ENV}` interpolation → schema with defaults → cross-field checks → frozen.
 * Relative file paths become relative to `baseDir` (the config file's folder).
 */
export function parseConfig (raw: unknown, { env = process.env, baseDir = process.cwd() }: { env?: NodeJS.ProcessEnv, baseDir?: string } = {}): Readonly<Config> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(['(root): must be a mapping of sections'])
  const problems: string[] = []
  const candidate = interpolateEnv(structuredClone(raw), env, problems)
  if (!validate(candidate)) {
    problems.push(...withoutBranchNoise(validate.errors ?? []).map(formatAjvError))
    throw new ConfigError(dedupe(problems))
  }
  // Cross-field rules would only restate an unset variable's empty value.
  if (problems.length > 0) throw new ConfigError(dedupe(problems))
  problems.push(...crossCheck(candidate))
  if (problems.length > 0) throw new ConfigError(dedupe(problems))
  candidate.mappings.file = resolve(baseDir, candidate.mappings.file)
  return deepFreeze(candidate)
}

/** An `anyOf` failure already says "must be one of the allowed forms"; drop each branch's own complaint. */
function withoutBranchNoise (errors: ErrorObject[]): ErrorObject[] {
  const unions = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath))
  return errors.filter((e) => e.keyword === 'anyOf' || !(unions.has(e.instancePath) && e.schemaPath.includes('/anyOf/')))
}

function formatAjvError (error: ErrorObject): string {
  const path = jsonPointerToPath(error.instancePath)
  switch (error.keyword) {
    case 'additionalProperties':
      return `${join(path, String(error.params.additionalProperty))}: unknown key`
    case 'required':
      return `${join(path, String(error.params.missingProperty))}: is required`
    case 'anyOf':
      return `${path || '(root)'}: must be one of the allowed forms`
    case 'enum':
      return `${path || '(root)'}: must be one of ${(error.params.allowedValues as string[]).join(', ')}`
    default:
      return `${path || '(root)'}: ${error.message ?? 'is invalid'}`
  }
}

function jsonPointerToPath (pointer: string): string {
  return pointer.split('/').slice(1).map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, part) => /^\d+$/.test(part) ? `${path}[${part}]` : join(path, part), '')
}

function join (path: string, key: string): string {
  return path ? `${path}.${key}` : key
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
