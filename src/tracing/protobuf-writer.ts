/**
 * The protobuf wire format (https://protobuf.dev/programming-guides/encoding/), as much of it as
 * OTLP's trace messages need: varints, fixed64/fixed32, and length-delimited fields. A nested
 * message reserves one byte for its length and moves its bytes right in the rare case that the
 * length needs more, so nothing is measured twice.
 */

/** Wire types. */
export const Wire = { VARINT: 0, FIXED64: 1, LEN: 2, FIXED32: 5 } as const
type WireType = typeof Wire[keyof typeof Wire]

export class ProtobufWriter {
  buffer: Buffer
  position = 0

  /**
   * `growthLimit`: doubling stops there, and past it the buffer grows only by what is needed, for
   * a caller that stops writing once it reaches the limit (the exporter's pending batch).
   */
  constructor (size: number, private readonly growthLimit = Infinity) {
    this.buffer = Buffer.allocUnsafe(size)
  }

  /** Makes room for `bytes` more. */
  reserve (bytes: number): void {
    const needed = this.position + bytes
    if (needed <= this.buffer.length) return
    const grown = Buffer.allocUnsafe(Math.max(needed, Math.min(this.buffer.length * 2, this.growthLimit)))
    this.buffer.copy(grown, 0, 0, this.position)
    this.buffer = grown
  }

  /** A field's key: one byte up to field 15, more after (`Span.flags` is 16). */
  tag (field: number, wire: WireType): void {
    this.varint((field << 3) | wire)
  }

  /** A non-negative integer up to 2^53. */
  varint (value: number): void {
    this.reserve(8)
    while (value > 0x7f) {
      this.buffer[this.position++] = (value % 0x80) | 0x80
      value = Math.floor(value / 0x80)
    }
    this.buffer[this.position++] = value
  }

  fixed32 (value: number): void {
    this.reserve(4)
    this.position = this.buffer.writeUInt32LE(value, this.position)
  }

  /** A fixed64 from a non-negative integer-valued double (exact below 2^53, else to its precision). */
  fixed64 (value: number): void {
    this.reserve(8)
    const low = value % 0x1_0000_0000
    this.buffer.writeUInt32LE(low, this.position)
    this.buffer.writeUInt32LE((value - low) / 0x1_0000_0000, this.position + 4)
    this.position += 8
  }

  double (value: number): void {
    this.reserve(8)
    this.position = this.buffer.writeDoubleLE(value, this.position)
  }

  /** A length-delimited UTF-8 string field. */
  string (field: number, value: string): void {
    this.tag(field, Wire.LEN)
    const length = value.length
    // Room for the most it can take, once: 3 UTF-8 bytes a UTF-16 unit, and a length of up to 5.
    this.reserve(length * 3 + 5)
    const start = this.position
    if (length < 0x80 && this.ascii(value)) {
      // Short ASCII (every key, nearly every value): copied in JS, since a call into Buffer#write
      // costs more than the copy itself at these lengths.
      this.buffer[start] = length
      return
    }
    // A one-byte length placeholder, as begin() leaves, without reserving the room again.
    this.position = start + 1
    this.position += this.buffer.write(value, this.position, 'utf8')
    this.end(start)
  }

  /** A length-delimited bytes field from lower-case hex (trace and span ids). */
  hex (field: number, value: string): void {
    this.tag(field, Wire.LEN)
    const bytes = value.length >>> 1
    this.reserve(bytes + 1)
    const buffer = this.buffer
    buffer[this.position++] = bytes
    for (let i = 0; i < value.length; i += 2) buffer[this.position++] = (nibble(value.charCodeAt(i)) << 4) | nibble(value.charCodeAt(i + 1))
  }

  /**
   * Copies `value` one byte per character after a one-byte length placeholder when every
   * character is ASCII; answers false, having written nothing, when one is not.
   */
  private ascii (value: string): boolean {
    const buffer = this.buffer
    const at = this.position + 1
    for (let i = 0; i < value.length; i++) {
      const code = value.charCodeAt(i)
      if (code > 0x7f) return false
      buffer[at + i] = code
    }
    this.position = at + value.length
    return true
  }

  /** Bytes already encoded, as a length-delimited field. */
  bytes (field: number, value: Uint8Array): void {
    this.tag(field, Wire.LEN)
    this.varint(value.length)
    this.reserve(value.length)
    this.buffer.set(value, this.position)
    this.position += value.length
  }

  /** Opens a nested message (after its tag) with room for `expected` bytes; returns what `end` takes. */
  begin (expected = 64): number {
    this.reserve(expected + 1)
    const start = this.position
    this.position += 1
    return start
  }

  /** Closes the nested message opened at `start`, writing its length in front of it. */
  end (start: number): void {
    const length = this.position - start - 1
    if (length < 0x80) {
      this.buffer[start] = length
      return
    }
    const size = varintSize(length)
    this.reserve(size - 1)
    this.buffer.copyWithin(start + size, start + 1, this.position)
    this.position += size - 1
    const after = this.position
    this.position = start
    this.varint(length)
    this.position = after
  }

  /** The bytes written so far; the writer starts over on a fresh buffer. */
  take (size: number): Buffer {
    const written = this.buffer.subarray(0, this.position)
    this.buffer = Buffer.allocUnsafe(size)
    this.position = 0
    return written
  }
}

/** The bytes `value` takes as a varint. */
export function varintSize (value: number): number {
  let size = 1
  for (let rest = value; rest > 0x7f; rest = Math.floor(rest / 0x80)) size++
  return size
}

/** A lower-case hex digit's value (ids come from our own generator or a validated `traceparent`). */
function nibble (code: number): number {
  return code <= 0x39 ? code - 0x30 : code - 0x57
}
