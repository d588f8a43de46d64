/**
 * Semantic conventions (https://opentelemetry.io/docs/specs/semconv/http/http-spans/): a method
 * outside the known set is reported as `_OTHER`, with the original in
 * `http.request.method_original`, so a client cannot mint span names at will.
 */
import type { SpanAttributes } from './sampled-span.js'

const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE'])

/** The method as the span names it. */
export function spanMethod (method: string): string {
  return KNOWN_METHODS.has(method) ? method : '_OTHER'
}

/** `http.request.method` (and `http.request.method_original` for an unknown one) into `attributes`. */
export function setMethodAttributes (attributes: SpanAttributes, method: string): string {
  const named = spanMethod(method)
  attributes['http.request.method'] = named
  if (named === '_OTHER') attributes['http.request.method_original'] = method
  return named
}
