/**
 * The configured source of truth (`mappings.source`); a bad mappings file is a ConfigError.
 * A gateway with no API profile authenticates nothing and reads no mappings.
 */
import type { Config } from '../config/schema.js'
import { createFileSource } from './file-source.js'
import { createMysqlSource } from './mysql-source.js'
import { loadBackendTls, mysqlTlsMode } from '../backends/tls.js'
import type { MappingSource } from './source.js'

export function createMappingSource (config: Readonly<Config>): MappingSource {
  if (Object.keys(config.apis).length === 0) return EMPTY_SOURCE
  if (config.mappings.source === 'mysql') {
    const { mysql } = config.mappings
    return createMysqlSource({ ...mysql, tls: loadBackendTls('mappings.mysql.tls', mysqlTlsMode(mysql.host, mysql.tls), mysql.tls) })
  }
  return createFileSource(config.mappings.file)
}

const EMPTY_SOURCE: MappingSource = {
  kind: 'file',
  async tenant () { return null },
  async client () { return null },
  async clients () { return [] },
  async ping () { return 'no API profile: no mappings read' },
  async close () {}
}
