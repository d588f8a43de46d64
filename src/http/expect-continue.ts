/**
 * `Expect: 100-continue` answered only once a request is admitted (CONTRACT.md §1.4). Node
 * answers 100 on arrival unless the server listens for 'checkContinue'; the gateway listens, so
 * the body is invited only by the hop, once the access decision let the request through. A
 * refusal is then the final answer, sent before any body (RFC 9110 §10.1.1), and Node closes
 * that connection after it: the client may still send the body it held back.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

const awaitingContinue = new WeakSet<ServerResponse>()

/** Takes a request that expects 100 through the normal route, without Node's automatic 100. */
export function deferContinue (server: Server): void {
  server.on('checkContinue', function routeWithoutContinue (req: IncomingMessage, res: ServerResponse) {
    awaitingContinue.add(res)
    server.emit('request', req, res)
  })
}

/** The admitted request's `100 Continue`, when it expects one and nothing was answered yet. */
export function continueIfExpected (res: ServerResponse): void {
  if (awaitingContinue.delete(res) && !res.headersSent) res.writeContinue()
}
