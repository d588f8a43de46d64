/**
 * Request-target normalization, done once before routing so that the path the route policy sees
 * is exactly the path forwarded (CONTRACT.md §1.2). Classes it closes: `..`/`%2e%2e` traversal
 * (CVE-2021-21321, GHSA-2q7r-29rg-6m5h), `//`, `%2F`, `%5C` (Istio CVE-2021-31920), `#fragment`
 * (CVE-2021-39156 / CVE-2021-32779), path parameters (`;`, `%3B`: Tomcat, Jetty and Spring strip
 * `;…` from a segment before mapping, so `/admin;/x` would meet a looser policy here than the
 * handler it reaches there), segments ending in `.` (stripped by some servers, `admin.` = `admin`),
 * and invalid UTF-8 (`%c0%ae`, an overlong `.`).
 *
 * Rules: fragment dropped; `\` and `%5C` and `%2F` become `/`; percent-encoded unreserved
 * characters are decoded, every other escape is kept with upper-case hex; runs of `/` merge;
 * `.` and `..` segments are resolved (never above the root); a trailing `/` is kept.
 * Anything that cannot be made safe (bad escape, invalid UTF-8, control character, `;`, a segment
 * ending in `.`, not origin-form) is `null`.
 */
import { GatewayError } from '../errors.js'

export interface NormalizedTarget {
  path: string
  /** The query string as received, with its leading `?`, or '' (never re-encoded). */
  query: string
}

const HEX = '0123456789ABCDEF'

export function normalizeRequestTarget (target: string): NormalizedTarget | null {
  let end = target.length
  const hash = target.indexOf('#')
  if (hash !== -1) end = hash
  const question = target.indexOf('?')
  const pathEnd = question !== -1 && question < end ? question : end
  const query = question !== -1 && question < end ? target.slice(question, end) : ''
  const rawPath = target.slice(0, pathEnd)
  if (rawPath.charCodeAt(0) !== 47 /* / */) return null

  const decoded = decodeSafely(rawPath)
  if (decoded === null || !isUtf8(decoded)) return null
  const path = resolveSegments(decoded)
  return path === null ? null : { path, query }
}

/** The refusal of a target `normalizeRequestTarget` cannot make safe (the proxy port's and `explain`'s). */
export function pathRefusal (): GatewayError {
  return new GatewayError('REQUEST_INVALID', 'The request path is not accepted: path parameters (;), segments ending in a dot, invalid escapes or invalid UTF-8 are refused')
}

/** Fast path for the common case: nothing to decode, merge or resolve. */
export function isAlreadyNormal (target: string): boolean {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i)
    if (c === 63 /* ? */) return true
    if (c === 37 /* % */ || c === 92 /* \ */ || c === 35 /* # */ || c === 59 /* ; */ || c < 0x21 || c > 0x7e) return false
    if (c === 46 /* . */) {
      const next = target.charCodeAt(i + 1)
      if (next === 47 || next === 63 || Number.isNaN(next)) return false
    }
    if (c === 47 /* / */) {
      const next = target.charCodeAt(i + 1)
      if (next === 47) return false
      if (next === 46 /* . */) return false
    }
  }
  return target.charCodeAt(0) === 47
}

function decodeSafely (raw: string): string | null {
  let out = ''
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    if (c === 37 /* % */) {
      const hi = hexValue(raw.charCodeAt(i + 1))
      const lo = hexValue(raw.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) return null
      const byte = hi * 16 + lo
      i += 2
      if (byte < 0x20 || byte === 0x7f || byte === 0x3b /* ; */) return null
      if (byte === 0x2f || byte === 0x5c) out += '/'
      else if (isUnreserved(byte)) out += String.fromCharCode(byte)
      else out += '%' + HEX[hi] + HEX[lo]
    } else if (c === 92 /* \ */) {
      out += '/'
    } else if (c < 0x20 || c === 0x7f || c === 0x3b /* ; */) {
      return null
    } else if (c > 0x7e || c === 0x20) {
      // Node hands raw bytes over as latin1 characters: escape them so the upstream gets ASCII.
      if (c > 0xff) return null
      out += '%' + HEX[c >> 4] + HEX[c & 15]
    } else {
      out += raw[i]
    }
  }
  return out
}

function resolveSegments (path: string): string | null {
  const segments: string[] = []
  const parts = path.split('/')
  for (const part of parts) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      segments.pop()
      continue
    }
    if (part.endsWith('.')) return null
    segments.push(part)
  }
  const last = parts[parts.length - 1]
  const trailingSlash = segments.length > 0 && (last === '' || last === '.' || last === '..')
  return '/' + segments.join('/') + (trailingSlash ? '/' : '')
}

/** The escaped bytes of a decoded path form valid UTF-8 (no overlong forms, no surrogates). */
function isUtf8 (path: string): boolean {
  if (!path.includes('%')) return true
  try {
    decodeURIComponent(path)
    return true
  } catch {
    return false
  }
}

function hexValue (c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 65 && c <= 70) return c - 55
  if (c >= 97 && c <= 102) return c - 87
  return -1
}

function isUnreserved (byte: number): boolean {
  return (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) ||
    byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e
}

/** The path of a request target, without its query string. */
export function pathOf (target: string): string {
  const q = target.indexOf('?')
  return q === -1 ? target : target.slice(0, q)
}

/** `?` and the query of a request target exactly as received (a parser would re-encode it), or ''. */
export function querySuffix (target: string): string {
  const q = target.indexOf('?')
  return q === -1 ? '' : target.slice(q)
}

/**
 * A prefix whose every character is unreserved (RFC 3986) or `/`: the normalizer decodes any
 * escape of these, so a normalized path the router matched under it starts with it literally,
 * up to case.
 */
export function isPlainPrefix (prefix: string): boolean {
  return /^\/[A-Za-z0-9._~/-]*$/.test(prefix)
}

/**
 * The path an upstream receives for a normalized request path under a route's plain `prefix`
 * (no trailing `/`, matched case-insensitively on a segment boundary): `rewritePrefix` and the
 * rest. Null when `path` does not start with `prefix` (up to case) on a segment boundary.
 */
export function upstreamPath (path: string, prefix: string, rewritePrefix: string): string | null {
  const base = prefix === '/' ? '' : prefix
  if (!path.startsWith(base) && path.slice(0, base.length).toLowerCase() !== base.toLowerCase()) return null
  const rest = path.slice(base.length)
  if (rest === '') return rewritePrefix
  if (rest.charCodeAt(0) !== 47 /* / */) return null
  return rewritePrefix === '/' ? rest : rewritePrefix + rest
}

/**
 * An upstream's `Location` path under `upstreamPrefix` told in the client's terms, under
 * `routePrefix` (a route with `rewritePrefix`). Absolute URLs and paths elsewhere are kept.
 */
export function rewriteLocationPrefix (location: string, upstreamPrefix: string, routePrefix: string): string {
  const from = upstreamPrefix.endsWith('/') ? upstreamPrefix.slice(0, -1) : upstreamPrefix
  const to = routePrefix.endsWith('/') ? routePrefix.slice(0, -1) : routePrefix
  if (!location.startsWith('/') || location.startsWith('//')) return location
  if (location !== from && !location.startsWith(from + '/') && !location.startsWith(from + '?')) return location
  return (to + location.slice(from.length)) || '/'
}
