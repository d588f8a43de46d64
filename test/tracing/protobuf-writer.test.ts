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
