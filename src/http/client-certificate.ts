/**
 * The client certificate the TLS-terminating ingress passes on (CONTRACT.md §15, RFC 8705 §3):
 * what the access decision needs of it is its SHA-256 thumbprint, base64url of the DER (§3.1).
 *
 * - `pem-urlencoded`: ingress-nginx `auth-tls-pass-certificate-to-upstream` sends the leaf as
 *   URL-encoded PEM (`$ssl_client_escaped_cert`) in `ssl-client-cert`.
 * - `xfcc`: Envoy/Istio `x-forwarded-client-cert`, elements separated by `,` (one per proxy),
 *   `key=value` pairs by `;`, a value with `,` `;` `=` in double quotes. The last element is the
 *   one our direct peer added; its `Hash` (hex SHA-256 of the DER) and/or `Cert` (URL-encoded PEM)
 *   name the certificate (Envoy's "x-forwarded-client-cert" header documentation).
 *
 * Only read from a trusted peer; request-guard.ts strips these headers from every request.
 */
import { createHash, X509Certificate } from 'node:crypto'

/** A certificate the ingress vouched for, by thumbprint; or a header that names none we can read. */
export type ClientCertificate = { readonly thumbprint: string } | { readonly malformed: string }

export type ClientCertificateFormat = 'pem-urlencoded' | 'xfcc'

/** Every spelling a proxy uses for a client certificate, stripped from every request (folded: lower case, `-`). */
export const CLIENT_CERTIFICATE_HEADERS: readonly string[] = ['ssl-client-cert', 'x-forwarded-client-cert', 'x-ssl-client-cert', 'x-client-cert', 'ssl-client-verify']

const PEM = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/
const HEX_SHA256 = /^[0-9a-fA-F]{64}$/

/** The header's value as sent → the certificate's facts; undefined when there is no header. */
export function clientCertificateOf (value: string | string[] | undefined, format: ClientCertificateFormat): ClientCertificate | undefined {
  if (value === undefined) return undefined
  if (format === 'xfcc') return fromXfcc(Array.isArray(value) ? value.join(',') : value)
  if (Array.isArray(value)) return { malformed: 'more than one certificate header' }
  return fromEncodedPem(value)
}

function fromEncodedPem (value: string): ClientCertificate {
  let pem: string
  try {
    pem = decodeURIComponent(value)
  } catch {
    return { malformed: 'the certificate is not URL-encoded' }
  }
  return certificateFromPem(pem)
}

/** A PEM certificate (the first, the leaf, of a chain) → its thumbprint; `explain --client-cert` reads a file with it. */
export function certificateFromPem (pem: string): ClientCertificate {
  const match = PEM.exec(pem)
  if (match === null) return { malformed: 'the certificate is not PEM' }
  const der = Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64')
  try {
    // Parsed only to refuse bytes that are no certificate; the thumbprint is of the DER as sent.
    void new X509Certificate(der)
  } catch {
    return { malformed: 'the certificate cannot be parsed' }
  }
  return { thumbprint: createHash('sha256').update(der).digest('base64url') }
}

function fromXfcc (value: string): ClientCertificate {
  const elements = splitOutsideQuotes(value, ',')
  if (elements === undefined) return { malformed: 'x-forwarded-client-cert has an unterminated quote' }
  const pairs = splitOutsideQuotes(elements[elements.length - 1]!, ';')!
  let hash: string | undefined
  let cert: string | undefined
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq === -1) return { malformed: 'x-forwarded-client-cert has an element without "="' }
    const key = pair.slice(0, eq).trim().toLowerCase()
    const text = unquote(pair.slice(eq + 1).trim())
    if (key === 'hash') hash = text
    else if (key === 'cert') cert = text
  }
  const fromHash = hash === undefined ? undefined : HEX_SHA256.test(hash) ? Buffer.from(hash, 'hex').toString('base64url') : null
  if (fromHash === null) return { malformed: 'x-forwarded-client-cert Hash is not a hex SHA-256' }
  if (cert === undefined) return fromHash === undefined ? { malformed: 'x-forwarded-client-cert names no Hash or Cert' } : { thumbprint: fromHash }
  const fromCert = fromEncodedPem(cert)
  if (fromHash !== undefined && 'thumbprint' in fromCert && fromCert.thumbprint !== fromHash) return { malformed: 'x-forwarded-client-cert Hash and Cert disagree' }
  return fromCert
}

/** Splits on `separator` outside double quotes (a quoted value may hold `,` `;` `=` and `\"`); undefined for an unterminated quote. */
function splitOutsideQuotes (text: string, separator: string): string[] | undefined {
  const parts: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted && c === '\\') i++
    else if (c === '"') quoted = !quoted
    else if (!quoted && c === separator) {
      parts.push(text.slice(start, i))
      start = i + 1
    }
  }
  if (quoted) return undefined
  parts.push(text.slice(start))
  return parts
}

function unquote (value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value
  return value.slice(1, -1).replace(/\\(.)/g, '$1')
}
