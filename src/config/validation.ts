/** Thrown with every problem found, each as `path: message`; the CLI prints them and exits 78. */
import { Type } from '@sinclair/typebox'
import type { ErrorObject } from 'ajv'

export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

const GUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
export const GUID_PATTERN_SCHEMA = Type.String({ pattern: GUID_PATTERN, description: 'a GUID' })
/** The same GUID rule for code that tests a string (token claims, command arguments). */
export const GUID = new RegExp(GUID_PATTERN)

/** Ajv errors as `path: message` lines, one per problem. */
export function formatAjvErrors (errors: ErrorObject[]): string[] {
  return withoutBranchNoise(errors).map(formatAjvError)
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
    case 'minProperties':
      return `${path || '(root)'}: must not be empty`
    case 'enum':
      return `${path || '(root)'}: must be one of ${(error.params.allowedValues as string[]).join(', ')}`
    default:
      return `${path || '(root)'}: ${error.message ?? 'is invalid'}`
  }
}

function jsonPointerToPath (pointer: string): string {
  return pointer.split('/').slice(1).map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~')).reduce(keyPath, '')
}

/** `path.key`, or `path[n]` for a number: how every problem names a place (a numeric map key too). */
export function keyPath (path: string, key: string): string {
  return /^\d+$/.test(key) ? `${path}[${key}]` : join(path, key)
}

function join (path: string, key: string): string {
  return path ? `${path}.${key}` : key
}

/**
 * Characters refused in operator text (`--reason`, `--by`) (CONTRACT.md §13): control (Cc), format (Cf:
 * bidirectional overrides such as U+202E, zero-width characters), line and paragraph
 * separators (U+2028, U+2029), and lone surrogates. They reorder or break the lines of
 * `blocks` and of log viewers; C1 controls such as U+009B start terminal escape sequences.
 */
export const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u

/** Text read back from the store, made printable: a record written by hand cannot smuggle them into logs or output. */
export function printable (text: string): string {
  return text.replace(new RegExp(UNPRINTABLE.source, 'gu'), (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`)
}
