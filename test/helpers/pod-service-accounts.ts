import { generateKeyPairSync, randomUUID, sign, createHash, type KeyObject } from 'node:crypto'
import type { ServiceAccountTokenRequest } from './pod-run.js'

/**
 * The cluster's service-account token issuer, as the API server answers the kubelet's
 * TokenRequest for a projected `serviceAccountToken` volume (Kubernetes "Service account token
 * volume projection"; on AKS the issuer is the cluster's OIDC issuer URL, whose discovery
 * document Entra reads to verify federated tokens). RS256 with the issuer's key, `kid` its
 * thumbprint; claims as a 1.30 API server makes them: `iss`, `sub`
 * `system:serviceaccount:<namespace>:<name>`, `aud` the source's audience, `iat`/`nbf` now,
 * `exp` `expirationSeconds` later, a `jti`, and the bound pod and service account under
 * `kubernetes.io`.
 */
export interface ServiceAccountIssuer {
  /** The issuer URL (`--service-account-issuer`; AKS: `oidcIssuerProfile.issuerUrl`). */
  issuer: string
  /** What verifies its tokens: the key a federated credential's issuer publishes in its JWKS. */
  publicKey: KeyObject
  /** The tokens issued, in order, as the kubelet received them. */
  issued: Array<ServiceAccountTokenRequest & { token: string }>
  /** pod-run.ts's `serviceAccountToken`. */
  token: (request: ServiceAccountTokenRequest) => string
}

/** The AKS shape of an issuer URL: https://<region>.oic.prod-aks.azure.com/<tenant>/<cluster guid>/ */
export function createServiceAccountIssuer (issuer = `https://westeurope.oic.prod-aks.azure.com/${randomUUID()}/${randomUUID()}/`): ServiceAccountIssuer {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const kid = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url')
  const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const issued: ServiceAccountIssuer['issued'] = []
  return {
    issuer,
    publicKey,
    issued,
    token (request) {
      const now = Math.floor(Date.now() / 1000)
      const claims = {
        aud: [request.audience ?? issuer],
        exp: now + request.expirationSeconds,
        iat: now,
        iss: issuer,
        jti: randomUUID(),
        'kubernetes.io': {
          namespace: request.namespace,
          pod: { name: request.pod, uid: randomUUID() },
          serviceaccount: { name: request.serviceAccount, uid: randomUUID() }
        },
        nbf: now,
        sub: `system:serviceaccount:${request.namespace}:${request.serviceAccount}`
      }
      const input = `${encode({ alg: 'RS256', kid })}.${encode(claims)}`
      const token = `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`
      issued.push({ ...request, token })
      return token
    }
  }
}
