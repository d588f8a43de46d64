/**
 * A failure in words an operator can act on. undici's `fetch failed` and a dual-stack connect's
 * AggregateError hide the cause a level or two down (`cause`, `errors`); this names the first
 * error that says something: `connect ECONNREFUSED 127.0.0.1:9`, `getaddrinfo ENOTFOUND host`,
 * `self-signed certificate in certificate chain`, or a timeout with its bound.
 */
export function failureReason (err: unknown, timeoutMs?: number): string {
  let current: unknown = err
  for (let depth = 0; depth < 8; depth++) {
    if (isTimeout(current)) return timeoutMs === undefined ? 'timed out' : `timeout after ${timeoutMs} ms`
    if (!isOpaque(current)) break
    const next = innerCause(current)
    if (next === undefined) break
    current = next
  }
  if (!(current instanceof Error)) return String(current)
  const code = (current as { code?: unknown }).code
  const message = current.message !== '' ? current.message : current.name
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message
}

/** An error that says nothing by itself: undici's `fetch failed`, an AggregateError, no message. */
function isOpaque (err: unknown): boolean {
  return err instanceof AggregateError || (err instanceof Error && (err.message === '' || err.message === 'fetch failed'))
}

/** The error and the ones under it, outermost first (at most `limit`): the one walk over causes. */
export function causeChain (err: unknown, limit = 8): unknown[] {
  const chain: unknown[] = []
  for (let current = err; chain.length < limit && current !== undefined && current !== null; current = innerCause(current)) chain.push(current)
  return chain
}

/** Every string `code` along the chain (`ECONNREFUSED`, `UND_ERR_HEADERS_TIMEOUT`, `CERT_HAS_EXPIRED` …). */
export function causeCodes (err: unknown): string[] {
  return causeChain(err).flatMap((e) => typeof (e as { code?: unknown } | null)?.code === 'string' ? [(e as { code: string }).code] : [])
}

/** The error one level down: an AggregateError's first, else `cause`. */
function innerCause (err: unknown): unknown {
  if (!(err instanceof Error)) return undefined
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors[0]
  return err.cause
}

/** A connect or fetch timeout, by name or code. */
export function isTimeout (err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  return err.name === 'TimeoutError' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT'
}
