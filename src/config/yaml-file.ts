/**
 * A YAML file as plain data. A file that cannot be read, or YAML that does not parse, is one
 * ConfigError naming the file, and for a syntax error its line and column:
 * `config/gateway.yaml:12:5: Map keys must be unique`. `key` prefixes the problem (the config
 * key that named the file, e.g. `mappings.file`). The core schema keeps `2027-05-01` a string.
 */
import { readFileSync } from 'node:fs'
import { parse as parseYaml, YAMLParseError } from 'yaml'
import { ConfigError } from './validation.js'

export function readYamlFile (path: string, key: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError([`${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`])
  }
  try {
    return parseYaml(text, { strict: true, uniqueKeys: true })
  } catch (err) {
    if (!(err instanceof YAMLParseError)) throw err
    const at = err.linePos?.[0]
    const message = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
    throw new ConfigError([`${key}: ${path}${at ? `:${at.line}:${at.col}` : ''}: ${message}`])
  }
}
