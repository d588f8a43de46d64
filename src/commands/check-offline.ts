/**
 * `check --offline` (CONTRACT.md §14): the config and the files it names, read as `start` reads
 * them — the mappings file (`mappings.source: file`), the backends' TLS and password files, the
 * assertion keys, the Graph credential's files — and no network at all: nothing here opens a
 * socket, so it runs in a build step or an air-gapped pipeline. A problem is a ConfigError (exit
 * 78, every problem as `path: message`); the last line says what only the online `check` proves.
 */
import type { Config } from '../config/schema.js'
import { ConfigError } from '../config/validation.js'
import { loadMappingsFile } from '../mappings/file-source.js'
import { loadBackendTls, mysqlTlsMode } from '../backends/tls.js'
import { redisSettingsFrom } from '../backends/redis-client.js'
import { loadAssertionKeys } from '../assertion/keys.js'
import { graphCredentialProblems } from '../groups-overage/index.js'

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`

export function runOfflineCheck (config: Readonly<Config>, out: (line: string) => void): number {
  const apis = Object.keys(config.apis)
  const read: string[] = []
  const notChecked: string[] = []
  let mappings: string
  if (apis.length === 0) mappings = 'ok mappings: no API profile, no mappings read'
  else if (config.mappings.source === 'file') {
    const file = loadMappingsFile(config.mappings.file)
    mappings = `ok mappings file: ${count(file.banks.length, 'bank')}, ${count(file.tenants.length, 'tenant')}, ${count(file.clients.length, 'client')}`
  } else {
    const { mysql } = config.mappings
    if (mysql?.tls !== undefined) {
      loadBackendTls('mappings.mysql.tls', mysqlTlsMode(mysql.host, mysql.tls), mysql.tls)
      read.push('mappings.mysql.tls')
    }
    mappings = 'ok mappings: source mysql, not read offline'
    notChecked.push(`MySQL ${mysql?.host ?? '?'}:${mysql?.port ?? '?'}`)
  }
  if (config.cache.store === 'redis' && config.cache.redis !== undefined) {
    redisSettingsFrom(config.cache.redis)
    if (config.cache.redis.tls !== undefined) read.push('cache.redis.tls')
    notChecked.push('Redis')
  }
  // Read (and refused when unreadable) by the config load itself, as at start.
  const passwordFiles = [['mappings.mysql', config.mappings.mysql], ['cache.redis', config.cache.redis], ['cache.redis.sentinel', config.cache.redis?.sentinel]] as const
  for (const [at, holder] of passwordFiles) if (holder?.passwordFile !== undefined) read.push(`${at}.passwordFile`)
  const keys = loadAssertionKeys(config.assertion)
  if (keys.length > 0) read.push(`assertion keys (${keys.map((k) => k.kid).join(', ')})`)
  const { graph } = config.entra
  if (graph !== undefined) {
    const problems = graphCredentialProblems(graph)
    if (problems.length > 0) throw new ConfigError(problems)
    read.push('entra.graph credential')
    notChecked.push('Graph token')
  }
  if (apis.length > 0) notChecked.unshift(`discovery and JWKS for ${apis.join(', ')}`)

  out('ok config')
  out(mappings)
  if (read.length > 0) out(`ok files: ${read.join('; ')}`)
  out(`not checked (offline): ${notChecked.length > 0 ? notChecked.join('; ') : 'nothing: this config reaches no backend'}; run "check" without --offline for them`)
  return 0
}
