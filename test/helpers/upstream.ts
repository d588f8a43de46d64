import type { Test } from 'tap'
import { createServer, type IncomingMessage, type ServerResponse, type IncomingHttpHeaders } from 'node:http'
import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'

export interface SeenRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  rawHeaders: string[]
  bodyBytes: number
  bodySha256: string
}

export interface TestUpstream {
  url: string
  port: number
  requests: SeenRequest[]
  last (): SeenRequest
}

type Handler = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => void

/**
 * A real HTTP upstream on loopback. By default it reads the whole body (hashing, not keeping it)
 * and answers 200 JSON describing what it received. Closed by the test's teardown.
 */
export async function startUpstream (t: Test, handler?: Handler): Promise<TestUpstream> {
  const requests: SeenRequest[] = []
  const server = createServer((req, res) => {
    const hash = createHash('sha256')
    let bodyBytes = 0
    req.on('data', (chunk: Buffer) => { bodyBytes += chunk.length; hash.update(chunk) })
    req.on('end', () => {
      const seen: SeenRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        bodyBytes,
        bodySha256: hash.digest('hex')
      }
      requests.push(seen)
      if (handler) return handler(req, res, seen)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ method: seen.method, url: seen.url, headers: seen.headers, bodyBytes }))
    })
  })
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    last () {
      const seen = requests[requests.length - 1]
      if (!seen) throw new Error('the upstream received no request')
      return seen
    }
  }
}
