import t from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { OtlpHttpExporter } from '../../src/tracing/otlp-http-exporter.js'
import { SampledSpan, SpanKind, type SpanAttributes } from '../../src/tracing/sampled-span.js'
import { randomTraceId } from '../../src/tracing/trace-ids.js'
import { decodeExport, startOtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js'
import { eventually } from '../helpers/eventually.js'

interface Warning { fields: Record<string, unknown>, msg: string }
const warnings = (): { logger: { warn: (fields: Record<string, unknown>, msg: string) => void }, lines: Warning[] } => {
  const lines: Warning[] = []
  return { logger: { warn: (fields, msg) => { lines.push({ fields, msg }) } }, lines }
}

const span = (exporter: OtlpHttpExporter, attributes: SpanAttributes, name = 'GET /x'): SampledSpan =>
  new SampledSpan(name, SpanKind.SERVER, { traceId: randomTraceId(), parentSpanId: '', remoteParent: false, clockOffsetMs: Date.now() - performance.now() }, attributes, exporter)

t.test('every attribute type, long and multi-byte strings and lengths past one varint byte decode as sent', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const { logger, lines } = warnings()
  const exporter = new OtlpHttpExporter({ url: `${receiver.endpoint}/v1/traces`, serviceName: 'svc-ü', logger })
  t.teardown(() => exporter.close())
  const long = 'ä€😀x'.repeat(5000)
  const attributes = { short: 'a', long, empty: '', yes: true, no: false, zero: 0, big: 2 ** 40, negative: -3, fraction: 0.25 }
  const sent = span(exporter, { ...attributes, gone: undefined as unknown as string })
  sent.setAttribute('later', 'set after the start')
  sent.setAttribute('short', 'replaced')
  sent.fail()
  sent.end()
  sent.end()
  await exporter.flush()
  t.equal(receiver.spans.length, 1, 'ended twice, exported once')
  const got = receiver.spans[0]!
  t.equal(got.serviceName, 'svc-ü')
  t.equal(got.traceId, sent.traceId)
  t.equal(got.spanId, sent.spanId)
  t.equal(got.kind, 2)
  t.equal(got.status.code, 2)
  t.strictSame(got.attributes, { ...attributes, short: 'replaced', later: 'set after the start' })
  t.strictSame(got.attributeTypes, {
    short: 'string', long: 'string', empty: 'string', yes: 'bool', no: 'bool', zero: 'int', big: 'int', negative: 'double', fraction: 'double', later: 'string'
  }, 'non-negative integers as int_value, other numbers as double_value')
  t.ok(got.endTimeUnixNano >= got.startTimeUnixNano)
  t.same(lines, [])
})

t.test('a batch is sent once it is full, without waiting for the timer, and every span arrives once', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const exporter = new OtlpHttpExporter({ url: `${receiver.endpoint}/v1/traces`, serviceName: 'svc', logger: warnings().logger })
  t.teardown(() => exporter.close())
  const ids = new Set<string>()
  // ~1.1 MiB of spans: the first batch goes at 256 KiB, what gathers while it is in flight goes next.
  for (let i = 0; i < 1100; i++) {
    const s = span(exporter, { 'url.path': `/${'p'.repeat(1000)}${i}` })
    ids.add(s.spanId)
    s.end()
  }
  await eventually(() => receiver.posts.length, (posts) => posts >= 2, 5000)
  await exporter.flush()
  t.ok(receiver.posts.length >= 2, `sent in batches (${receiver.posts.length} posts)`)
  t.equal(receiver.spans.length, 1100)
  t.same(new Set(receiver.spans.map((s) => s.spanId)), ids)
})

t.test('a collector that does not answer: spans past the bound are dropped and logged, and the rest arrive once it does', async (t) => {
  const held: Array<() => void> = []
  const received: ReceivedSpan[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      held.push(() => {
        received.push(...decodeExport(Buffer.concat(chunks)))
        res.end()
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const { logger, lines } = warnings()
  const exporter = new OtlpHttpExporter({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, serviceName: 'svc', logger })
  t.teardown(() => exporter.close())
  // ~10 MiB while the first export hangs: the first batch is in flight, 4 MiB wait, the rest is dropped.
  const total = 10_000
  for (let i = 0; i < total; i++) span(exporter, { 'url.path': `/${'q'.repeat(1000)}` }).end()
  await eventually(() => held.length, (n) => n === 1, 5000)
  held.shift()!()
  // The spans that waited go as soon as the first export is answered.
  await eventually(() => held.length, (n) => n === 1, 5000)
  held.shift()!()
  await exporter.flush()
  t.ok(received.length > 3000 && received.length < 6000, `only what fit was kept (${received.length} of ${total})`)
  const dropped = lines.find((line) => line.msg === 'traces dropped: the collector is not keeping up')
  t.equal(dropped?.fields.dropped, total - received.length, 'the dropped count is logged')
})

t.test('a collector that refuses: a retryable status is tried once more, then one warning with the status', async (t) => {
  const answers: number[] = []
  const received: ReceivedSpan[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const status = answers.shift() ?? 200
      if (status === 200) received.push(...decodeExport(Buffer.concat(chunks)))
      res.statusCode = status
      if (status === 503) res.setHeader('retry-after', '0')
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const { logger, lines } = warnings()
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`
  const exporter = new OtlpHttpExporter({ url, serviceName: 'svc', logger })
  t.teardown(() => exporter.close())

  answers.push(503)
  span(exporter, {}).end()
  await exporter.flush()
  t.equal(received.length, 1, 'delivered by the retry')
  t.same(lines, [], 'a failure the retry made good is not reported')

  answers.push(503, 503)
  span(exporter, {}).end()
  await exporter.flush()
  t.match(lines, [{ msg: 'traces could not be exported', fields: { url, spans: 1, status: 503 } }])
  t.equal(received.length, 1)

  answers.push(400)
  span(exporter, {}).end()
  await exporter.flush()
  t.equal(answers.length, 0, 'a 400 is not retried')
  t.equal(lines.length, 1, 'and the next failure within 30 s is not logged again')
})

t.test('a collector that takes the export and never answers: the deadline ends it and the next export goes', async (t) => {
  let requests = 0
  const server = createServer((req) => { requests++; req.resume() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const { logger, lines } = warnings()
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`
  const exporter = new OtlpHttpExporter({ url, serviceName: 'svc', logger, timeoutMs: 200 })
  t.teardown(() => exporter.close())
  span(exporter, {}).end()
  await exporter.flush()
  t.equal(requests, 2, 'tried, and tried once more after the connection was cut')
  t.match(lines, [{ msg: 'traces could not be exported', fields: { err: { message: 'no answer within 200 ms' } } }])
})

t.test('a closed exporter sends what it had and takes no more', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const exporter = new OtlpHttpExporter({ url: `${receiver.endpoint}/v1/traces`, serviceName: 'svc', logger: warnings().logger })
  span(exporter, {}).end()
  await exporter.close()
  t.equal(receiver.spans.length, 1)
  span(exporter, {}).end()
  await exporter.flush()
  t.equal(receiver.spans.length, 1)
})
