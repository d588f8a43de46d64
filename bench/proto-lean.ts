import Fastify from 'fastify'
import { Pool } from 'undici'

const upstream = process.env.UPSTREAM ?? 'http://127.0.0.1:3000'
const pool = new Pool(upstream, { connections: 128, pipelining: 1, keepAliveTimeout: 30000 })
const app = Fastify({ logger: false })
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', (_r, payload, done) => done(null, payload))

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer'])
function handler (request: any, reply: any): void {
  const req = request.raw
  const res = reply.raw
  const headers: Record<string, any> = { ...req.headers }
  delete headers.connection; delete headers['transfer-encoding']; delete headers['keep-alive']
  headers.host = undefined
  let abort: ((e?: Error) => void) | null = null
  pool.dispatch({
    method: req.method,
    path: req.url,
    headers,
    body: req.method === 'GET' || req.method === 'HEAD' ? null : req
  }, {
    onConnect (a: any) { abort = a },
    onHeaders (status: number, raw: Buffer[], resume: () => void) {
      reply.hijack()
      const out: string[] = []
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!.toString('latin1')
        const lower = name.toLowerCase()
        if (HOP.has(lower)) continue
        out.push(name, raw[i + 1]!.toString('latin1'))
      }
      res.writeHead(status, out)
      res.on('drain', resume)
      return true
    },
    onData (chunk: Buffer) { return res.write(chunk) },
    onComplete () { res.end() },
    onError (err: Error) {
      if (!res.headersSent) reply.code(502).send({ error: err.message })
      else res.destroy(err)
    }
  } as any)
  req.once('close', () => { if (!res.writableEnded && abort) abort() })
}
app.all('/api', handler)
app.all('/api/*', handler)
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
process.stdout.write(JSON.stringify({ listening: Number(new URL(address).port) }) + '\n')
process.on('SIGTERM', () => process.exit(0))
