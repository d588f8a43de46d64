/** Traces (CONTRACT.md §14): the public surface of the tracing capability. */
export { createTracing, type Tracing } from './create.js'
export { default as serverSpans } from './server-spans.js'
export { traceUpstreamCall, upstreamTarget, type UpstreamTarget } from './client-spans.js'
