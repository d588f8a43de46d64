import type { Test } from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A span as an OTLP/HTTP JSON export carries it, its attributes flattened to a record. */
export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  /** OTLP's SpanKind: 2 SERVER, 3 CLIENT. */
  kind: number
  attributes: Record<string, string | number | boolean>
  links: Array<{ traceId: string, spanId: string }>
  status: { code?: number }
  serviceName: string
}

export interface OtlpReceiver {
  /** The gateway's `tracing.endpoint`. */
  endpoint: string
  spans: ReceivedSpan[]
  /** Every request's path and content type, in order. */
  posts: Array<{ path: string, contentType: string | undefined }>
}

interface AnyValue { stringValue?: string, intValue?: number | string, boolValue?: boolean, doubleValue?: number }
interface OtlpAttribute { key: string, value: AnyValue }
interface OtlpSpan { traceId: string, spanId: string, parentSpanId?: string, name: string, kind: number, attributes?: OtlpAttribute[], links?: Array<{ traceId: string, spanId: string }>, status?: { code?: number } }
interface OtlpExport { resourceSpans: Array<{ resource?: { attributes?: OtlpAttribute[] }, scopeSpans: Array<{ spans: OtlpSpan[] }> }> }

function valueOf (value: AnyValue): string | number | boolean {
  if (value.stringValue !== undefined) return value.stringValue
  if (value.intValue !== undefined) return Number(value.intValue)
  if (value.boolValue !== undefined) return value.boolValue
  return value.doubleValue ?? NaN
}

function attributesOf (attributes: OtlpAttribute[] = []): Record<string, string | number | boolean> {
  return Object.fromEntries(attributes.map((attribute) => [attribute.key, valueOf(attribute.value)]))
}

/** A real OTLP/HTTP receiver on loopback: accepts POST /v1/traces (JSON) and decodes each export. */
export async function startOtlpReceiver (t: Test): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = []
  const posts: OtlpReceiver['posts'] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      posts.push({ path: req.url ?? '', contentType: req.headers['content-type'] })
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.statusCode = 404
        res.end()
        return
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport
      for (const resourceSpans of body.resourceSpans) {
        const serviceName = String(attributesOf(resourceSpans.resource?.attributes)['service.name'])
        for (const scope of resourceSpans.scopeSpans) {
          for (const span of scope.spans) {
            spans.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? '',
              name: span.name,
              kind: span.kind,
              attributes: attributesOf(span.attributes),
              links: (span.links ?? []).map((link) => ({ traceId: link.traceId, spanId: link.spanId })),
              status: span.status ?? {},
              serviceName
            })
          }
        }
      }
      res.setHeader('content-type', 'application/json')
      res.end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, posts }
}
