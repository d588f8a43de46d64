/**
 * Semantic conventions (https://opentelemetry.io/docs/specs/semconv/http/http-spans/): a method
 * outside the known set is reported as `_OTHER`, with the original in
 * `http.request.method_original`, so a client cannot mint span names at will.
 */
import type { SpanAttributes } from './sampled-span.js'

const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE'])

/**
 * `http.request.method` (and `http.request.method_original` for an unknown one) into
 * `attributes`; answers the method as the span names it.
 */
export function setMethodAttributes (attributes: SpanAttributes, method: string): string {
  const named = KNOWN_METHODS.has(method) ? method : '_OTHER'
  attributes['http.request.method'] = named
  if (named === '_OTHER') attributes['http.request.method_original'] = method
  return named
}
