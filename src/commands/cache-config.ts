/**
 * The `cache` section alone, for `block`, `unblock`, `blocks` and `cache purge` (CONTRACT.md
 * §13): an operator stopping an attack needs Redis, not the Graph secret or the MySQL password,
 * so only this section's `${ENV}` placeholders are filled in. It is validated exactly as `start`
 * validates it (schema, defaults, the Redis cross-checks, TLS files relative to the config file)
 * by handing parseConfig a config holding nothing else but one placeholder route.
 */
import { dirname } from 'node:path'
import { parseConfig } from '../config/load.js'
import { ConfigError } from '../config/validation.js'
import { readYamlFile } from '../config/yaml-file.js'
import type { CacheConfig } from '../config/schema.js'

/** The placeholder route the schema requires and the commands never read. */
const NO_ROUTE = { name: 'none', prefix: '/', upstream: 'http://127.0.0.1', auth: 'none' }

export function loadCacheConfig (path: string, env: NodeJS.ProcessEnv = process.env): Readonly<CacheConfig> {
  const raw = readYamlFile(path, '(file)')
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(['(root): must be a mapping of sections'])
  const cache = (raw as Record<string, unknown>).cache
  return parseConfig({ ...(cache === undefined ? {} : { cache }), routes: [NO_ROUTE] }, { env, baseDir: dirname(path) }).cache
}
