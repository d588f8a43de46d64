import type { Test } from 'tap'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'

/**
 * A TCP relay in front of a real server that keeps every byte a client sent, connection by
 * connection: what the server side of the wire received, to prove that nothing went in
 * plaintext (a user name, a password, a command) after a refused TLS handshake.
 */
export interface WireRecorder {
  port: number
  /** Client → server bytes, one buffer per connection opened since the last `forget`. */
  readonly sent: readonly Buffer[]
  /** Whether any connection since the last `forget` carried `text` in the clear. */
  carried (text: string): boolean
  forget (): void
}

export async function startWireRecorder (t: Test, targetPort: number): Promise<WireRecorder> {
  let connections: Array<{ bytes: Buffer }> = []
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const record = { bytes: Buffer.alloc(0) }
    connections.push(record)
    const upstream = connect(targetPort, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => { client.destroy(); upstream.destroy() })
    }
    client.on('data', (chunk: Buffer) => { record.bytes = Buffer.concat([record.bytes, chunk]) })
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return {
    port: (server.address() as AddressInfo).port,
    get sent () { return connections.map((c) => c.bytes) },
    carried: (text) => connections.some((c) => c.bytes.includes(Buffer.from(text))),
    forget () { connections = [] }
  }
}
