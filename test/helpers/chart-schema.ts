import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ConfigSchema } from '../../src/config/schema.js'

/**
 * The chart's values.schema.json: the chart's own keys written here, and `config` taken from
 * the gateway's TypeBox schema, so Helm rejects what the gateway would reject. A test keeps the
 * file equal to this output; regenerate with `npm run chart:schema`.
 */
const str = { type: 'string' }
const bool = { type: 'boolean' }
const int = (minimum = 0) => ({ type: 'integer', minimum })
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', additionalProperties: false, properties, ...(required.length ? { required } : {}) })
const anyObject = { type: 'object' }
const anyArray = { type: 'array' }
const nsName = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }
const port = { type: 'integer', minimum: 1, maximum: 65535 }
const cidrs = { type: 'array', items: { type: 'string', pattern: '^[0-9a-fA-F.:]+/[0-9]{1,3}$' } }
/** A backend's egress: its namespace ('' for none), CIDRs outside the cluster, its ports. */
const secretName = { type: 'string', pattern: '^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$', maxLength: 253 }
/** A namespace by name, or '' for none. */
const optionalNs = { anyOf: [nsName, { const: '' }] }
const backendEgress = obj({ namespace: optionalNs, cidrs, ports: { type: 'array', items: port, minItems: 1 } }, ['ports'])

export function chartValuesSchema (): Record<string, unknown> {
  const config = withoutDefaultedRequired(JSON.parse(JSON.stringify(ConfigSchema))) as GatewaySchema
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'bookme-gateway chart values',
    ...obj({
      image: obj({ repository: { type: 'string', minLength: 1 }, tag: str, pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] } }, ['repository']),
      imagePullSecrets: anyArray,
      replicaCount: int(1),
      config,
      configReload: { enum: ['live', 'rollout'] },
      secrets: obj({ existingSecret: str, mysqlPassword: str, redisUrl: str, redisPassword: str, sentinelPassword: str, graphSecret: str }),
      // Azure Workload Identity for Graph: the client id of the app its federated credential is on.
      graph: obj({ workloadIdentity: obj({ clientId: { anyOf: [config.properties.entra.properties.graph.properties.clientId, { const: '' }] } }) }),
      mappingsFile: anyObject,
      assertionKey: obj({ existingSecret: { anyOf: [secretName, { const: '' }] }, additionalSecrets: { type: 'array', items: secretName, uniqueItems: true }, create: bool }),
      extraVolumes: anyArray,
      extraVolumeMounts: anyArray,
      preStopSleepSeconds: int(0),
      heapMaxMb: int(64),
      semiSpaceMb: { type: 'integer', minimum: 1, maximum: 64 },
      resources: anyObject,
      extraEnv: anyArray,
      podAnnotations: anyObject,
      podLabels: anyObject,
      nodeSelector: anyObject,
      tolerations: anyArray,
      affinity: anyObject,
      topologySpread: obj({ enabled: bool, maxSkew: int(1) }),
      serviceAccount: obj({ create: bool, name: str, annotations: anyObject }),
      service: obj({ type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] }, port }),
      autoscaling: obj({ enabled: bool, minReplicas: int(1), maxReplicas: int(1), targetCPUUtilizationPercentage: { type: 'integer', minimum: 1, maximum: 100 } }),
      podDisruptionBudget: obj({ enabled: bool, maxUnavailable: { oneOf: [int(0), { type: 'string', pattern: '^[0-9]+%$' }] } }),
      networkPolicy: obj({
        enabled: bool,
        ingressControllerNamespace: optionalNs,
        ingressFrom: obj({ cidrs }),
        monitoringNamespace: optionalNs,
        upstreams: { type: 'array', items: obj({ namespace: nsName, ports: { type: 'array', items: port, minItems: 1 } }, ['namespace', 'ports']) },
        mysql: backendEgress,
        redis: backendEgress,
        httpsCidrs: cidrs
      }),
      ingress: obj({ enabled: bool, className: str, annotations: anyObject, hosts: { type: 'array', items: obj({ host: str, paths: { type: 'array', items: str } }, ['host', 'paths']) }, tls: anyArray }),
      serviceMonitor: obj({ enabled: bool, interval: { type: 'string', pattern: '^[0-9]+(ms|s|m|h)$' }, labels: anyObject }),
      prometheusRule: obj({ enabled: bool, namespace: optionalNs, labels: anyObject, runbookBaseUrl: { type: 'string', pattern: '^(https?://\\S+)?$' } }),
      dashboards: obj({ enabled: bool, namespace: optionalNs, labels: anyObject, annotations: anyObject })
    }, ['image', 'config'])
  }
}

/** The paths of the gateway's schema read here. */
interface GatewaySchema { properties: { entra: { properties: { graph: { properties: { clientId: unknown } } } } } }

/**
 * TypeBox lists defaulted properties as required, which the gateway's Ajv (useDefaults) fills
 * in first; Helm's validator applies no defaults, so for the chart a property with a default
 * is optional. Every other rule (types, patterns, enums, unknown keys) stays.
 */
function withoutDefaultedRequired (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutDefaultedRequired)
  if (schema === null || typeof schema !== 'object') return schema
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) out[key] = withoutDefaultedRequired(value)
  const properties = out.properties as Record<string, { default?: unknown }> | undefined
  if (Array.isArray(out.required) && properties) {
    out.required = (out.required as string[]).filter((name) => properties[name]?.default === undefined)
    if ((out.required as string[]).length === 0) delete out.required
  }
  return out
}

export const VALUES_SCHEMA_PATH = fileURLToPath(new URL('../../helm/bookme-gateway/values.schema.json', import.meta.url))

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(VALUES_SCHEMA_PATH, JSON.stringify(chartValuesSchema(), null, 2) + '\n')
  process.stdout.write(`wrote ${VALUES_SCHEMA_PATH}\n`)
}
