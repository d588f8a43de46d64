import type { Test } from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import protobuf from 'protobufjs'

/** A span as an OTLP/HTTP export carries it, ids in hex, its attributes flattened to a record. */
export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  /** OTLP's SpanKind: 2 SERVER, 3 CLIENT. */
  kind: number
  attributes: Record<string, string | number | boolean>
  /** Which of AnyValue's fields carried each attribute. */
  attributeTypes: Record<string, 'string' | 'bool' | 'int' | 'double' | 'other'>
  links: Array<{ traceId: string, spanId: string, flags: number }>
  status: { code?: number }
  /** W3C trace flags in the low byte; 0x100 "whether the parent is remote is known", 0x200 "it is". */
  flags: number
  traceState: string
  startTimeUnixNano: bigint
  endTimeUnixNano: bigint
  serviceName: string
  scopeName: string
}

export interface OtlpReceiver {
  /** The gateway's `tracing.endpoint`. */
  endpoint: string
  spans: ReceivedSpan[]
  /** Every request's path and content type, in order. */
  posts: Array<{ path: string, contentType: string | undefined }>
}

/**
 * The messages of opentelemetry-proto (collector/trace/v1, trace/v1, common/v1, resource/v1) an
 * export of spans uses, field numbers as published; protobufjs decodes with them, so an export
 * the gateway encodes wrong does not decode here.
 */
const OTLP_PROTO = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; fixed32 flags = 16;
  string name = 5; SpanKind kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; uint32 dropped_attributes_count = 10; repeated Event events = 11;
  uint32 dropped_events_count = 12; repeated Link links = 13; uint32 dropped_links_count = 14; Status status = 15;
  enum SpanKind { SPAN_KIND_UNSPECIFIED = 0; SPAN_KIND_INTERNAL = 1; SPAN_KIND_SERVER = 2; SPAN_KIND_CLIENT = 3; SPAN_KIND_PRODUCER = 4; SPAN_KIND_CONSUMER = 5; }
  message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
  message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; uint32 dropped_attributes_count = 5; fixed32 flags = 6; }
}
message Status { reserved 1; string message = 2; StatusCode code = 3; enum StatusCode { STATUS_CODE_UNSET = 0; STATUS_CODE_OK = 1; STATUS_CODE_ERROR = 2; } }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
`
const ExportTraceServiceRequest = protobuf.parse(OTLP_PROTO, { keepCase: false }).root.lookupType('otlp.ExportTraceServiceRequest')

interface AnyValue { stringValue?: string, intValue?: string, boolValue?: boolean, doubleValue?: number }
interface OtlpAttribute { key: string, value: AnyValue }
interface OtlpLink { traceId: string, spanId: string, flags?: number }
interface OtlpSpan {
  traceId: string,
  spanId: string,
  parentSpanId?: string,
  traceState?: string,
  flags?: number,
  name: string,
  kind: number,
  startTimeUnixNano: string,
  endTimeUnixNano: string,
  attributes?: OtlpAttribute[],
  links?: OtlpLink[],
  status?: { code?: number }
}
interface OtlpExport { resourceSpans?: Array<{ resource?: { attributes?: OtlpAttribute[] }, scopeSpans?: Array<{ scope?: { name?: string }, spans?: OtlpSpan[] }> }> }

function valueOf (value: AnyValue): string | number | boolean {
  if (value.stringValue !== undefined) return value.stringValue
  if (value.intValue !== undefined) return Number(value.intValue)
  if (value.boolValue !== undefined) return value.boolValue
  return value.doubleValue ?? NaN
}

function typeOf (value: AnyValue): ReceivedSpan['attributeTypes'][string] {
  if (value.stringValue !== undefined) return 'string'
  if (value.intValue !== undefined) return 'int'
  if (value.boolValue !== undefined) return 'bool'
  return value.doubleValue !== undefined ? 'double' : 'other'
}

function attributesOf (attributes: OtlpAttribute[] = []): Record<string, string | number | boolean> {
  return Object.fromEntries(attributes.map((attribute) => [attribute.key, valueOf(attribute.value)]))
}

/** Bytes as protobufjs gives them (base64 with `bytes: String`) to the lower-case hex OTLP/JSON and W3C use. */
const hex = (base64: string | undefined): string => Buffer.from(base64 ?? '', 'base64').toString('hex')

/** The spans of one ExportTraceServiceRequest, decoded by protobufjs from opentelemetry-proto's field numbers. */
export function decodeExport (body: Buffer): ReceivedSpan[] {
  const spans: ReceivedSpan[] = []
  const decoded = ExportTraceServiceRequest.decode(body)
  const request = ExportTraceServiceRequest.toObject(decoded, { longs: String, bytes: String, enums: Number, defaults: false }) as OtlpExport
  for (const resourceSpans of request.resourceSpans ?? []) {
    const serviceName = String(attributesOf(resourceSpans.resource?.attributes)['service.name'])
    for (const scope of resourceSpans.scopeSpans ?? []) {
      for (const span of scope.spans ?? []) {
        spans.push({
          traceId: hex(span.traceId),
          spanId: hex(span.spanId),
          parentSpanId: hex(span.parentSpanId),
          name: span.name,
          kind: span.kind,
          attributes: attributesOf(span.attributes),
          attributeTypes: Object.fromEntries((span.attributes ?? []).map((attribute) => [attribute.key, typeOf(attribute.value)])),
          links: (span.links ?? []).map((link) => ({ traceId: hex(link.traceId), spanId: hex(link.spanId), flags: link.flags ?? 0 })),
          status: span.status ?? {},
          flags: span.flags ?? 0,
          traceState: span.traceState ?? '',
          startTimeUnixNano: BigInt(span.startTimeUnixNano),
          endTimeUnixNano: BigInt(span.endTimeUnixNano),
          serviceName,
          scopeName: scope.scope?.name ?? ''
        })
      }
    }
  }
  return spans
}

/** A real OTLP/HTTP receiver on loopback: accepts POST /v1/traces (protobuf, as the gateway sends) and decodes each export. */
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
      spans.push(...decodeExport(Buffer.concat(chunks)))
      // An empty ExportTraceServiceResponse: full success.
      res.setHeader('content-type', 'application/x-protobuf')
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, posts }
}
