/**
 * One listening socket, the current app (CONTRACT.md §14 "Reload"): the proxy port's
 * http.Server hands each new request — and each WebSocket handshake, and each malformed
 * request's error — to the app built from the active config. A request already dispatched
 * stays with the app it started in, so it finishes under the config it started with. The fast
 * path pays one indirection: a variable read and a call.
 */
import type { IncomingMessage, Server } from 'node:http'
import type { FastifyInstance } from 'fastify'

export interface RequestSwitch {
  readonly current: FastifyInstance
  /** New requests go to `app` (ready, not listening) from now on. */
  use (app: FastifyInstance): void
}

type UpgradeDecision = (request: IncomingMessage) => boolean

export function createRequestSwitch (server: Server, first: FastifyInstance): RequestSwitch {
  let current = first
  let handler = first.routing
  // Fastify added its own listeners at creation; they are the first app's, so the switch replaces them.
  server.removeAllListeners('request')
  server.on('request', function switchedRequest (req, res) { handler(req, res) })
  // Whether a handshake is taken over, and by which routes, is the current app's: another app's
  // server, never listening, holds its decision and its listeners; the first app's are kept aside here.
  const switched = server as Server & { shouldUpgradeCallback: UpgradeDecision }
  const firstDecision = switched.shouldUpgradeCallback.bind(server)
  switched.shouldUpgradeCallback = function switchedUpgradeDecision (request) {
    return current === first ? firstDecision(request) : (current.server as typeof switched).shouldUpgradeCallback(request)
  }
  for (const event of ['upgrade', 'clientError'] as const) {
    const firstListeners = server.listeners(event) as Array<(...args: unknown[]) => void>
    server.removeAllListeners(event)
    server.on(event, function switchedEvent (...args: unknown[]) {
      if (current === first) for (const listener of firstListeners) listener.apply(server, args)
      else current.server.emit(event, ...args)
    })
  }
  return {
    get current () { return current },
    use (app) {
      current = app
      handler = app.routing
    }
  }
}
