import { constants, createHash, randomUUID, verify, X509Certificate, type KeyObject } from 'node:crypto'
import { compactVerify, decodeJwt, decodeProtectedHeader, errors } from 'jose'

/**
 * How Entra's token endpoint authenticates a confidential client (learn.microsoft.com/entra/
 * identity-platform/certificate-credentials, workload-identity-federation), for the local token
 * endpoint of test/helpers/graph.ts: a client secret the app registration holds now; a
 * `private_key_jwt` assertion signed by a registered certificate (found by `x5t#S256`, verified
 * with jose, not with the gateway's own code), for this endpoint, issued by the app about itself,
 * short-lived and used once; or a federated token whose issuer and subject a federated credential
 * of the app names, signed by that issuer. Refusals have Entra's shape and AADSTS codes.
 */
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
/** The audience every Azure Workload Identity token carries. */
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange'
/** Entra: `exp` "5-10 minutes after nbf at most"; this endpoint holds assertions to it. */
export const MAX_ASSERTION_LIFETIME_SEC = 600

export interface EntraApp {
  clientId: string
  /** The client secrets the app registration holds now: a rotated-out one is refused. */
  secrets: string[]
  /** The certificates (PEM) uploaded to the app registration. */
  certificates: string[]
  /** Federated identity credentials: an issuer, a subject, and the issuer's signing key. */
  federated: Array<{ issuer: string, subject: string, publicKey: KeyObject }>
}

/** How one token request authenticated, as the endpoint saw it. */
export interface ClientAuthentication {
  kind: 'secret' | 'certificate' | 'federated'
  /** The assertion's protected header and claims (certificate and federated). */
  header?: Record<string, unknown>
  claims?: Record<string, unknown>
}

export interface EntraAnswer { status: number, body?: unknown, headers?: Record<string, string> }

/** Entra's error body (reference-error-codes, "Handling error codes in your application"). */
export function entraError (status: number, error: string, code: number, description: string): EntraAnswer {
  const traceId = randomUUID()
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`,
      error_codes: [code],
      timestamp: new Date().toISOString(),
      trace_id: traceId,
      correlation_id: randomUUID(),
      error_uri: `https://login.microsoftonline.com/error?code=${code}`
    }
  }
}

const refused = (code: number, description: string): EntraAnswer => entraError(401, 'invalid_client', code, description)

/**
 * Whether `jwt` is signed by `key` with `alg`: jose verifies; a key restricted to RSASSA-PSS
 * (`rsa-pss`), which WebCrypto cannot import, is verified by node:crypto (RFC 7518 §3.5: SHA-256,
 * a 32-byte salt).
 */
async function signedBy (jwt: string, key: KeyObject, alg: 'RS256' | 'PS256'): Promise<boolean> {
  if (key.asymmetricKeyType === 'rsa-pss') {
    const [header, payload, signature] = jwt.split('.')
    return alg === 'PS256' && verify('sha256', Buffer.from(`${header}.${payload}`), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, Buffer.from(signature ?? '', 'base64url'))
  }
  try {
    await compactVerify(jwt, key, { algorithms: [alg] })
    return true
  } catch (err) {
    if (err instanceof errors.JOSEError) return false
    throw err
  }
}

export type ClientCheck = { ok: true, as: ClientAuthentication } | { ok: false, answer: EntraAnswer }

/** `authenticate(form, tokenUrl)`: the client of one token request, or Entra's refusal. */
export function createClientAuthentication (app: EntraApp, { now = Date.now }: { now?: () => number } = {}): (form: URLSearchParams, tokenUrl: string) => Promise<ClientCheck> {
  const usedJti = new Set<string>()
  const thumbprint = (pem: string): string => createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url')

  async function certificateAssertion (assertion: string, header: Record<string, unknown>, claims: Record<string, unknown>, tokenUrl: string, clientId: string): Promise<ClientCheck> {
    const alg = header.alg
    if (alg !== 'RS256' && alg !== 'PS256') return { ok: false, answer: refused(700027, `Client assertion failed signature validation: ${String(alg)} is not a supported signature algorithm.`) }
    if (header.typ !== 'JWT') return { ok: false, answer: refused(50013, 'Assertion failed signature validation: typ must be JWT.') }
    const registered = app.certificates.find((pem) => thumbprint(pem) === header['x5t#S256'])
    if (registered === undefined) return { ok: false, answer: refused(700027, 'The certificate with identifier used to sign the client assertion is not registered on application.') }
    if (!await signedBy(assertion, new X509Certificate(registered).publicKey, alg)) return { ok: false, answer: refused(700027, 'Client assertion failed signature validation.') }
    if (claims.aud !== tokenUrl) return { ok: false, answer: refused(700023, 'Client assertion audience claim does not match Realm issuer.') }
    if (claims.iss !== clientId) return { ok: false, answer: refused(700021, 'Client assertion application identifier doesn\'t match \'client_id\' parameter.') }
    if (claims.sub !== claims.iss) return { ok: false, answer: refused(50048, 'Subject mismatches Issuer claim in the client assertion.') }
    const nowSec = Math.floor(now() / 1000)
    const { exp, nbf, iat, jti } = claims
    const times = [exp, nbf, iat]
    if (!times.every((t): t is number => typeof t === 'number') || exp as number <= nowSec || nbf as number > nowSec + 60 ||
      (exp as number) - (nbf as number) > MAX_ASSERTION_LIFETIME_SEC || (exp as number) - (iat as number) > MAX_ASSERTION_LIFETIME_SEC) {
      return { ok: false, answer: refused(700024, 'Client assertion is not within its valid time range.') }
    }
    // Entra documents no code of its own for a replayed assertion; 50013 is its InvalidAssertion.
    if (typeof jti !== 'string' || jti === '' || usedJti.has(jti)) return { ok: false, answer: refused(50013, 'Assertion is invalid: its jti has been used before.') }
    usedJti.add(jti)
    return { ok: true, as: { kind: 'certificate', header, claims } }
  }

  async function federatedToken (assertion: string, header: Record<string, unknown>, claims: Record<string, unknown>): Promise<ClientCheck> {
    const credential = app.federated.find((c) => c.issuer === claims.iss && c.subject === claims.sub)
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
    if (credential === undefined || !audiences.includes(TOKEN_EXCHANGE_AUDIENCE)) {
      return { ok: false, answer: entraError(400, 'invalid_request', 70021, 'No matching federated identity record found for presented assertion.') }
    }
    if (!await signedBy(assertion, credential.publicKey, 'RS256')) return { ok: false, answer: refused(700027, 'Client assertion failed signature validation.') }
    if (typeof claims.exp !== 'number' || claims.exp <= Math.floor(now() / 1000)) return { ok: false, answer: refused(700024, 'Client assertion is not within its valid time range.') }
    return { ok: true, as: { kind: 'federated', header, claims } }
  }

  return async function authenticate (form, tokenUrl) {
    const clientId = form.get('client_id') ?? ''
    const secret = form.get('client_secret')
    const assertion = form.get('client_assertion')
    if (secret !== null) {
      if (assertion !== null) return { ok: false, answer: entraError(400, 'invalid_request', 90015, 'Both client_secret and client_assertion were presented.') }
      return clientId === app.clientId && app.secrets.includes(secret)
        ? { ok: true, as: { kind: 'secret' } }
        : { ok: false, answer: refused(7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.') }
    }
    if (assertion === null) return { ok: false, answer: refused(7000218, 'The request body must contain the following parameter: \'client_assertion\' or \'client_secret\'.') }
    if (form.get('client_assertion_type') !== JWT_BEARER) return { ok: false, answer: entraError(400, 'invalid_request', 90014, 'The request body must contain client_assertion_type urn:ietf:params:oauth:client-assertion-type:jwt-bearer.') }
    if (clientId !== app.clientId) return { ok: false, answer: entraError(400, 'unauthorized_client', 700016, 'Application not found in the directory.') }
    let header: Record<string, unknown>
    let claims: Record<string, unknown>
    try {
      header = decodeProtectedHeader(assertion) as Record<string, unknown>
      claims = decodeJwt(assertion) as Record<string, unknown>
    } catch {
      return { ok: false, answer: refused(50027, 'JWT token is invalid or malformed.') }
    }
    // An assertion the app issued about itself is its certificate's; any other issuer's is a federated token.
    return claims.iss === clientId || header['x5t#S256'] !== undefined
      ? await certificateAssertion(assertion, header, claims, tokenUrl, clientId)
      : await federatedToken(assertion, header, claims)
  }
}
