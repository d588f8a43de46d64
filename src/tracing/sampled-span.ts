/**
 * A sampled request's span, and its encoding as an OTLP `Span` message
 * (opentelemetry/proto/trace/v1/trace.proto). A span is encoded into the export batch the
 * moment it ends, so no finished span waits in memory for the batch to fill: the batch is bytes.
 */
import { ProtobufWriter, Wire } from './protobuf-writer.js'
import { randomSpanId } from './trace-ids.js'

export type AttributeValue = string | number | boolean
export type SpanAttributes = Record<string, AttributeValue>

/** OTLP's `Span.SpanKind`. */
export const SpanKind = { SERVER: 2, CLIENT: 3 } as const

/** Another trace's span this one points at (an untrusted inbound `traceparent`). */
export interface SpanLink {
  traceId: string
  spanId: string
  sampled: boolean
}

export interface SpanStart {
  traceId: string
  /** The parent's span id; '' for a root span. */
  parentSpanId: string
  /** Whether the parent came from another process (an inbound `traceparent`). */
  remoteParent: boolean
  /** The W3C `tracestate` that goes on with the trace, if any. */
  traceState?: string | undefined
  /**
   * Unix time in ms minus `performance.now()`, read once per trace in this process (a server span
   * and its client spans share it): spans follow the wall clock as it is when the request
   * arrives, while durations come from the monotonic clock.
   */
  clockOffsetMs: number
  link?: SpanLink | undefined
}

/** Where a span goes when it ends. */
export interface SpanSink {
  record (span: SampledSpan, endMs: number): void
}

export class SampledSpan {
  readonly spanId = randomSpanId()
  readonly startMs = performance.now()
  failed = false
  private endCalled = false

  constructor (
    readonly name: string,
    readonly kind: typeof SpanKind[keyof typeof SpanKind],
    readonly start: Readonly<SpanStart>,
    readonly attributes: SpanAttributes,
    private readonly sink: SpanSink
  ) {}

  get traceId (): string {
    return this.start.traceId
  }

  setAttribute (key: string, value: AttributeValue): void {
    this.attributes[key] = value
  }

  /** Status ERROR (OTLP `Status.code` 2). */
  fail (): void {
    this.failed = true
  }

  /** Whether it has ended: it is recorded, and nothing set on it from now on goes anywhere. */
  get ended (): boolean {
    return this.endCalled
  }

  /** Ends the span once; later calls do nothing. */
  end (): void {
    if (this.endCalled) return
    this.endCalled = true
    this.sink.record(this, performance.now())
  }
}

/**
 * Unix nanoseconds of a `performance.now()` reading, as a double: exact to 256 ns at today's
 * dates (2^61 ns), which is finer than a span needs and spares a BigInt per timestamp.
 */
const unixNanos = (clockOffsetMs: number, ms: number): number => Math.round((clockOffsetMs + ms) * 1e6)

/** W3C trace flags: sampled. */
export const SAMPLED = 0x01
/** OTLP `SpanFlags`: whether the parent is remote is known, and that it is. */
const HAS_IS_REMOTE = 0x100
const IS_REMOTE = 0x200

/** Writes `span` as field `field` (a `Span` in `ScopeSpans.spans`). */
export function writeSpan (writer: ProtobufWriter, field: number, span: SampledSpan, endMs: number): void {
  const { start } = span
  writer.tag(field, Wire.LEN)
  const at = writer.begin(256)
  writer.hex(1, start.traceId)
  writer.hex(2, span.spanId)
  if (start.traceState !== undefined && start.traceState !== '') writer.string(3, start.traceState)
  if (start.parentSpanId !== '') writer.hex(4, start.parentSpanId)
  writer.string(5, span.name)
  writer.tag(6, Wire.VARINT)
  writer.varint(span.kind)
  writer.tag(7, Wire.FIXED64)
  writer.fixed64(unixNanos(start.clockOffsetMs, span.startMs))
  writer.tag(8, Wire.FIXED64)
  writer.fixed64(unixNanos(start.clockOffsetMs, endMs))
  writeAttributes(writer, 9, span.attributes)
  if (start.link !== undefined) {
    writer.tag(13, Wire.LEN)
    const link = writer.begin(48)
    writer.hex(1, start.link.traceId)
    writer.hex(2, start.link.spanId)
    writer.tag(6, Wire.FIXED32)
    writer.fixed32((start.link.sampled ? SAMPLED : 0) | HAS_IS_REMOTE | IS_REMOTE)
    writer.end(link)
  }
  if (span.failed) {
    writer.tag(15, Wire.LEN)
    const status = writer.begin(2)
    writer.tag(3, Wire.VARINT)
    writer.varint(2)
    writer.end(status)
  }
  writer.tag(16, Wire.FIXED32)
  writer.fixed32(SAMPLED | HAS_IS_REMOTE | (start.remoteParent ? IS_REMOTE : 0))
  writer.end(at)
}

/** Each attribute as a `KeyValue` in field `field`; non-negative integers as `int_value`, other numbers as `double_value`. */
export function writeAttributes (writer: ProtobufWriter, field: number, attributes: Readonly<SpanAttributes>): void {
  for (const key in attributes) {
    const value = attributes[key]
    // A fact that was not there (a socket already gone) is left out, as the SDK did.
    if (value === undefined) continue
    writer.tag(field, Wire.LEN)
    const pair = writer.begin(key.length + 16)
    writer.string(1, key)
    writer.tag(2, Wire.LEN)
    const any = writer.begin()
    if (typeof value === 'string') {
      writer.string(1, value)
    } else if (typeof value === 'boolean') {
      writer.tag(2, Wire.VARINT)
      writer.varint(value ? 1 : 0)
    } else if (Number.isSafeInteger(value) && value >= 0) {
      writer.tag(3, Wire.VARINT)
      writer.varint(value)
    } else {
      writer.tag(4, Wire.FIXED64)
      writer.double(value)
    }
    writer.end(any)
    writer.end(pair)
  }
}
