/** The demo's upstream: answers every request with what it received (method, path, identity headers). */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export async function startEchoUpstream (prefix = 'x-bookme-'): Promise<{ url: string, server: Server }> {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const identity = Object.fromEntries(Object.entries(req.headers).filter(([name]) => name.startsWith(prefix) || name === 'x-request-id'))
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ upstream: 'echo', method: req.method, path: req.url, identity }, null, 2) + '\n')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}
