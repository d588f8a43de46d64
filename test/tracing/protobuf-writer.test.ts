import t from 'tap'
import protobuf from 'protobufjs'
import { ProtobufWriter, Wire } from '../../src/tracing/protobuf-writer.js'

/** A field 1 varint, then `value` as field 2: the same message as protobufjs encodes it. */
function reference (value: string): Buffer {
  return Buffer.from(protobuf.Writer.create().uint32((1 << 3) | Wire.VARINT).uint32(150).uint32((2 << 3) | Wire.LEN).string(value).finish())
}

/** Field 2's string, read back by protobufjs. */
function decodedString (bytes: Buffer): string {
  const reader = protobuf.Reader.create(bytes)
  reader.skipType(reader.uint32() & 7)
  reader.uint32()
  return reader.string()
}

/** A writer 8 bytes long with 3 of them taken, whose `reserve` calls are recorded. */
function smallWriter (): { writer: ProtobufWriter, reserved: number[] } {
  const writer = new ProtobufWriter(8)
  writer.tag(1, Wire.VARINT)
  writer.varint(150)
  const reserved: number[] = []
  const reserve = writer.reserve.bind(writer)
  writer.reserve = (bytes) => {
    reserved.push(bytes)
    reserve(bytes)
  }
  return { writer, reserved }
}

const strings = {
  'short ASCII': 'x'.repeat(40),
  'ASCII past one length byte': '/bookings/'.repeat(30),
  'short non-ASCII': 'Zürich €',
  'non-ASCII past one length byte': 'ä€😀x'.repeat(40),
  'non-ASCII past two length bytes': 'ä€😀x'.repeat(5000),
  empty: ''
}

t.test('a string longer than the free room is written as protobufjs writes it, and reads back', async (t) => {
  for (const [name, value] of Object.entries(strings)) {
    const { writer } = smallWriter()
    writer.string(2, value)
    const written = writer.take(0)
    t.same(written, reference(value), `${name}: the same bytes`)
    t.equal(decodedString(written), value, `${name}: reads back`)
  }
})

t.test('a string past the fast ASCII path reserves its room once', async (t) => {
  for (const name of ['ASCII past one length byte', 'short non-ASCII', 'non-ASCII past two length bytes'] as const) {
    const value = strings[name]
    const { writer, reserved } = smallWriter()
    writer.string(2, value)
    // The tag's and the length's varints reserve 8 bytes at most: any larger reservation is the string's room.
    t.equal(reserved.filter((bytes) => bytes > 8).length, 1, `${name}: one reservation for the string`)
  }
})

t.test('a writer whose caller stops at its growth limit never doubles past it, and keeps every string', async (t) => {
  const limit = 1000
  const writer = new ProtobufWriter(64, limit)
  const value = 'y'.repeat(100)
  const sizes: number[] = []
  // As the exporter does: no more once the limit is reached.
  while (writer.position < limit) {
    writer.string(1, value)
    if (sizes.at(-1) !== writer.buffer.length) sizes.push(writer.buffer.length)
  }
  t.ok(sizes.includes(limit), `grew to the limit: ${sizes.join(', ')}`)
  // One string's reservation past the limit at most (3 bytes a character and a 5-byte length, its tag).
  t.ok(writer.buffer.length <= limit + value.length * 3 + 5 + 8, `not doubled past it: ${sizes.join(', ')}`)
  const bytes = writer.take(0)
  const reader = protobuf.Reader.create(bytes)
  let strings = 0
  while (reader.pos < reader.len) {
    reader.uint32()
    t.equal(reader.string(), value)
    strings++
  }
  t.equal(strings, Math.ceil(limit / (value.length + 2)), 'every string kept')
})
