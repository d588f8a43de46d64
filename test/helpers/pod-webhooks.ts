import { createHash } from 'node:crypto'
import type { Manifest } from './helm-render.js'
import type { ContainerSpec, EnvVar } from './pod-spec.js'

/**
 * The Azure Workload Identity mutating webhook (github.com/Azure/azure-workload-identity,
 * pkg/webhook/webhook.go), played on rendered manifests, since no cluster runs it here. It admits
 * a pod being created when the pod carries the label `azure.workload.identity/use: "true"` (the
 * webhook configuration's objectSelector) and then, reading the pod's ServiceAccount (a pod whose
 * account does not exist is refused):
 * - to every container and init container not named in the pod annotation
 *   `azure.workload.identity/skip-containers` (`;`-separated), adds the env `AZURE_CLIENT_ID`
 *   (the account's annotation `azure.workload.identity/client-id`), `AZURE_TENANT_ID` (its
 *   `…/tenant-id` annotation, else the cluster's tenant), `AZURE_FEDERATED_TOKEN_FILE` and
 *   `AZURE_AUTHORITY_HOST` — each only when the container does not set it and its value is not
 *   empty — and a read-only mount of the token volume;
 * - adds that volume: a projected service-account token for the audience
 *   `api://AzureADTokenExchange`, expiring after the `…/service-account-token-expiration`
 *   annotation of the pod, else of the account, else 3600 s (3600–86400).
 *
 * Two layouts: `1.5` (v0.8 to v1.5.x, the one documented everywhere: volume `azure-identity-token`
 * at /var/run/secrets/azure/tokens, the file azure-identity-token) and `1.6` (v1.6.0, June 2026:
 * volume `azure-workload-identity-reserved-<sha256 of the pod name>` at /var/run/secrets/azure/wi,
 * the file token/azure-identity-token). The gateway names neither: it reads the variable.
 *
 * A Deployment's pods are mutated as they are created, so its pod template is mutated here the
 * way each of its pods would be; a rendered Pod (a `helm test` hook) the same way.
 */
export const USE_LABEL = 'azure.workload.identity/use'
export const CLIENT_ID_ANNOTATION = 'azure.workload.identity/client-id'
export const TENANT_ID_ANNOTATION = 'azure.workload.identity/tenant-id'
const EXPIRATION_ANNOTATION = 'azure.workload.identity/service-account-token-expiration'
const SKIP_CONTAINERS_ANNOTATION = 'azure.workload.identity/skip-containers'
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange'

export type WebhookRelease = '1.5' | '1.6'

export interface WorkloadIdentityWebhookOptions {
  /** The webhook's own AZURE_TENANT_ID setting: the cluster's tenant. */
  tenantId: string
  /** AZURE_AUTHORITY_HOST, the cloud's Entra endpoint (AzurePublicCloud's by default). */
  authorityHost?: string
  release?: WebhookRelease
  /** ServiceAccounts of the namespace made outside the chart (serviceAccount.create: false). */
  serviceAccounts?: Manifest[]
}

/** Where a release mounts the token, for `podName` (v1.6 names the volume after the pod). */
export function tokenLayout (release: WebhookRelease, podName: string): { volume: string, mountPath: string, path: string, file: string } {
  if (release === '1.5') return { volume: 'azure-identity-token', mountPath: '/var/run/secrets/azure/tokens', path: 'azure-identity-token', file: '/var/run/secrets/azure/tokens/azure-identity-token' }
  const prefix = 'azure-workload-identity-reserved-'
  const volume = prefix + createHash('sha256').update(podName).digest('hex').slice(0, 63 - prefix.length)
  return { volume, mountPath: '/var/run/secrets/azure/wi', path: 'token/azure-identity-token', file: '/var/run/secrets/azure/wi/token/azure-identity-token' }
}

interface PodTemplate {
  metadata?: { name?: string, generateName?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  spec: {
    serviceAccountName?: string
    containers: ContainerSpec[]
    initContainers?: ContainerSpec[]
    volumes?: Array<{ name: string, projected?: { sources: Array<{ serviceAccountToken?: { path: string } }> } }>
  }
}

/** The manifests as the cluster would run them with the webhook installed (a copy; the input is left alone). */
export function azureWorkloadIdentityWebhook (manifests: Manifest[], options: WorkloadIdentityWebhookOptions): Manifest[] {
  const copy = structuredClone(manifests)
  const accounts = [...copy, ...(options.serviceAccounts ?? [])].filter((m) => m.kind === 'ServiceAccount')
  for (const manifest of copy) {
    if (manifest.kind === 'Pod') admit(manifest as unknown as PodTemplate, manifest.metadata.name, accounts, options)
    if (manifest.kind === 'Deployment') {
      const template = (manifest as unknown as { spec: { template: PodTemplate } }).spec.template
      // A ReplicaSet's pods are named <replicaset>-<suffix> at creation: the webhook sees only generateName.
      admit(template, `${manifest.metadata.name}- (prefix)`, accounts, options)
    }
  }
  return copy
}

function admit (pod: PodTemplate, podName: string, accounts: Manifest[], options: WorkloadIdentityWebhookOptions): void {
  if (pod.metadata?.labels?.[USE_LABEL] !== 'true') return
  const accountName = pod.spec.serviceAccountName || 'default'
  const account = accounts.find((a) => a.metadata.name === accountName)
  if (account === undefined) throw new Error(`the workload identity webhook refuses the pod ${podName}: serviceaccounts "${accountName}" not found`)
  const annotations = account.metadata.annotations ?? {}
  const expiration = Number(pod.metadata?.annotations?.[EXPIRATION_ANNOTATION] ?? annotations[EXPIRATION_ANNOTATION] ?? 3600)
  if (!Number.isInteger(expiration) || expiration < 3600 || expiration > 86400) throw new Error(`the workload identity webhook refuses the pod ${podName}: token expiration ${expiration} not between 3600 and 86400`)
  const release = options.release ?? '1.5'
  const layout = tokenLayout(release, podName)
  const skip = new Set((pod.metadata?.annotations?.[SKIP_CONTAINERS_ANNOTATION] ?? '').split(';').map((name) => name.trim()))
  const desired: EnvVar[] = [
    { name: 'AZURE_CLIENT_ID', value: annotations[CLIENT_ID_ANNOTATION] ?? '' },
    { name: 'AZURE_TENANT_ID', value: TENANT_ID_ANNOTATION in annotations ? annotations[TENANT_ID_ANNOTATION]! : options.tenantId },
    { name: 'AZURE_FEDERATED_TOKEN_FILE', value: layout.file },
    { name: 'AZURE_AUTHORITY_HOST', value: options.authorityHost ?? 'https://login.microsoftonline.com/' }
  ]
  for (const container of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    if (skip.has(container.name)) continue
    const env = container.env ?? []
    for (const variable of desired) if (!env.some((e) => e.name === variable.name) && variable.value !== '') env.push(variable)
    container.env = env
    const mounts = container.volumeMounts ?? []
    const mount = { name: layout.volume, mountPath: layout.mountPath, readOnly: true }
    const at = mounts.findIndex((m) => m.name === layout.volume)
    // v1.5 keeps a mount of that name as it is; v1.6 replaces it.
    if (at === -1) mounts.push(mount)
    else if (release === '1.6') mounts[at] = mount
    container.volumeMounts = mounts
  }
  const volumes = pod.spec.volumes ?? []
  const volume = { name: layout.volume, projected: { defaultMode: 420, sources: [{ serviceAccountToken: { path: layout.path, expirationSeconds: expiration, audience: TOKEN_EXCHANGE_AUDIENCE } }] } }
  // v1.5: left alone when a projected volume already writes a token at that path; v1.6: replaced by name.
  const present = release === '1.5' && volumes.some((v) => v.projected?.sources.some((source) => source.serviceAccountToken?.path === layout.path))
  if (!present) pod.spec.volumes = [...volumes.filter((v) => v.name !== layout.volume), volume]
}
