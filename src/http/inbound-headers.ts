/**
 * Which inbound headers a client may not send (CONTRACT.md §1.1): every name in the identity
 * namespace and the bank-selection header, in any spelling a backend might fold into the same
 * name — case, `_` and `.` for `-` (oauth2-proxy CVE-2025-64484, Traefik CVE-2026-88011) — and
 * the forgeable proxy-state headers below, and every client-certificate header (§15): the one
 * `server.clientCertificate` names is read first, from a trusted peer only (request-guard.ts).
 */
import { CLIENT_CERTIFICATE_HEADERS } from './client-certificate.js'

export interface InboundHeaderPolicy {
  /** Removes forbidden headers in place; returns the bank selection read under its exact name. */
  strip (headers: Record<string, string | string[] | undefined>): string | undefined
  isForbidden (name: string): boolean
}

/**
 * Proxy-state headers a client could forge to steer an upstream's idea of the caller or the path
 * (CONTRACT.md §6; oauth2-proxy CVE-2026-40575 `X-Forwarded-Uri`, Envoy CVE-2023-27487
 * `x-envoy-original-path`): `Forwarded`, the whole `X-Forwarded-*` family (`-User`, `-Email`,
 * `-Groups`, `-Access-Token`, `-Client-Cert` are identity to the proxies that set them), every
 * `X-Original-*`, and the client-address and identity aliases below. The gateway writes
 * X-Forwarded-For/-Proto/-Host itself from what `trustProxy` allows.
 */
const FORGEABLE_PROXY_HEADERS = new Set(['forwarded', 'x-forwarded', 'x-real-ip', 'x-client-ip', 'true-client-ip',
  'x-remote-user', 'x-remote-addr', 'x-cluster-client-ip', 'cf-connecting-ip', 'fastly-client-ip', 'x-rewrite-url',
  'x-envoy-original-path'])
const FORGEABLE_PROXY_PREFIXES = ['x-forwarded-', 'x-original-']

const MAX_REMEMBERED_NAMES = 1024

/** Lower case, `_` and `.` folded to `-`: the name as a lenient backend would see it. */
function foldHeaderName (name: string): string {
  return name.toLowerCase().replace(/[_.]/g, '-')
}

export interface InboundHeaderNames {
  prefix: string
  bankSelection: string
  /** `server.clientCertificate.header`, beside the usual names. */
  clientCertificate?: string | undefined
}

export function createInboundHeaderPolicy ({ prefix, bankSelection, clientCertificate }: InboundHeaderNames): InboundHeaderPolicy {
  const foldedPrefix = foldHeaderName(prefix)
  const foldedSelection = foldHeaderName(bankSelection)
  // Never forwarded, from any peer: an upstream learns what the certificate proved from the
  // identity headers and the assertion, not from a header it cannot tell from a forged one.
  const certificateNames = new Set(CLIENT_CERTIFICATE_HEADERS)
  if (clientCertificate !== undefined) certificateNames.add(foldHeaderName(clientCertificate))
  const selectionName = bankSelection.toLowerCase()

  function judge (name: string): boolean {
    const folded = foldHeaderName(name)
    return folded.startsWith(foldedPrefix) || folded === foldedSelection || FORGEABLE_PROXY_HEADERS.has(folded) || certificateNames.has(folded) ||
      FORGEABLE_PROXY_PREFIXES.some((family) => folded.startsWith(family))
  }

  // Clients send the same few names on every request: each is folded once. Bounded, so a client
  // inventing names costs the fold again, never memory.
  const verdicts = new Map<string, boolean>()
  function isForbidden (name: string): boolean {
    let forbidden = verdicts.get(name)
    if (forbidden === undefined) {
      forbidden = judge(name)
      if (verdicts.size < MAX_REMEMBERED_NAMES) verdicts.set(name, forbidden)
    }
    return forbidden
  }

  function strip (headers: Record<string, string | string[] | undefined>): string | undefined {
    const raw = headers[selectionName]
    const selection = Array.isArray(raw) ? raw.join(',') : raw
    for (const name of Object.keys(headers)) {
      if (isForbidden(name)) delete headers[name]
    }
    return selection
  }

  return { strip, isForbidden }
}
