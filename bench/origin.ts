import { createServer } from 'node:http'

/** The upstream every benchmarked proxy forwards to: a small JSON answer, or `size` bytes. */
const SMALL = JSON.stringify({ ok: true, service: 'origin', items: [1, 2, 3] })
const big = new Map<number, Buffer>()
/** `ORIGIN_CHUNKED=1`: no content-length, the body in 16 KiB writes (bench/targets.ts). */
const CHUNKED = process.env.ORIGIN_CHUNKED === '1'
const PIECE = 16 * 1024

const server = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    const size = /[?&]size=(\d+)/.exec(req.url ?? '')?.[1]
    if (size) {
      const n = Number(size)
      if (!big.has(n)) big.set(n, Buffer.alloc(n, 'x'))
      const body = big.get(n)!
      if (CHUNKED) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' })
        for (let at = 0; at < n; at += PIECE) res.write(body.subarray(at, at + PIECE))
        res.end()
        return
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n })
      res.end(body)
      return
    }
    if (CHUNKED) {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(SMALL)
      return
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(SMALL) })
    res.end(SMALL)
  })
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ listening: (server.address() as { port: number }).port }) + '\n')
})
