import type { Test } from 'tap'
import { once } from 'node:events'
import { WebSocket } from 'ws'

/** A WebSocket session opened with a bearer token, closed by `t`; rejects with the status of a refused handshake. */
export async function openSocket (t: Test, url: string, token: string): Promise<WebSocket> {
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, maxPayload: 64 * 1024 * 1024 })
  t.teardown(() => { socket.terminate() })
  await new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
    socket.once('unexpected-response', (_req, res) => { reject(new Error(`status ${res.statusCode}`)) })
  })
  return socket
}

/** Sends `text` and resolves to the next message. */
export async function echoes (socket: WebSocket, text: string): Promise<string> {
  socket.send(text)
  const [reply] = await once(socket, 'message') as [Buffer]
  return reply.toString()
}

/** Resolves with the close code and reason. */
export function closed (socket: WebSocket): Promise<{ code: number, reason: string }> {
  return new Promise((resolve) => { socket.once('close', (code, reason) => { resolve({ code, reason: reason.toString() }) }) })
}
