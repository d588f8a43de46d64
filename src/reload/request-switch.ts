/**
 * One listening socket, the current app (CONTRACT.md §14 "Reload"): the proxy port's
 * http.Server hands each new request to the handler of the app built from the active config.
 * A request already dispatched stays with the app it started in, so it finishes under the
 * config it started with. The fast path pays one indirection: a variable read and a call.
 */
import type { Server } from 'node:http'
import type { FastifyInstance } from 'fastify'

export interface RequestSwitch {
  readonly current: FastifyInstance
  /** New requests go to `app` (ready, not listening) from now on. */
  use (app: FastifyInstance): void
}

export function createRequestSwitch (server: Server, first: FastifyInstance): RequestSwitch {
  let current = first
  let handler = first.routing
  // Fastify added its own handler at creation; it is the first app's, so it is replaced by the switch.
  server.removeAllListeners('request')
  server.on('request', function switchedRequest (req, res) { handler(req, res) })
  return {
    get current () { return current },
    use (app) {
      current = app
      handler = app.routing
    }
  }
}
