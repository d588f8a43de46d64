import type { Socket } from 'node:net'
import type { FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { Decision } from '../access/decision.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import { SESSION_END_REASON, type SessionEnd, type WebSocketSessions } from './websocket-sessions.js'

/**
 * What a WebSocket route adds to @fastify/http-proxy's relay (CONTRACT.md §15): each session is
 * registered under its principal until it ends, closed by the gateway (1008) at its token's
 * `exp` and on a block that covers it, and a message over the route's limit in either
 * direction closes both sides with 1009 (ws's own default would buffer 100 MiB).
 */
export interface WebSocketRouteHooks {
  /** The preHandler's part: remembers the decision of an upgrade request for its session. */
  admitted (request: FastifyRequest, decision: Decision): void
  /** http-proxy's `wsHooks`. */
  wsHooks: { onConnect: (context: unknown, source: WebSocket, target: WebSocket) => void }
}

/** How long a client may take to answer the gateway's close frame before its socket is cut. */
const CLOSE_GRACE_MS = 1000
/** ws's error code for a message over `maxPayload`; it has already sent 1009 on that side. */
const TOO_LARGE = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
/** WebSocket.OPEN; ws is http-proxy's dependency, not ours, so only its types are imported. */
const OPEN = 1

export function createWebSocketRouteHooks (route: string, { sessions, metrics }: { sessions: WebSocketSessions, metrics: GatewayMetrics }): WebSocketRouteHooks {
  // Keyed by the client's socket: http-proxy hands its hooks the ws sockets, not the request.
  const decisions = new WeakMap<Socket, Decision>()
  const gauge = metrics.websocketSessions.labels({ route })

  return {
    admitted (request, decision) {
      // Node marks a request taken over as an upgrade (app.ts's shouldUpgradeCallback).
      if ((request.raw as { upgrade?: boolean }).upgrade === true) decisions.set(request.raw.socket, decision)
    },
    wsHooks: {
      onConnect (_context, source, target) {
        // The client left (or sent too much) before the upstream answered: nothing to relay.
        if (source.readyState !== OPEN) {
          target.terminate()
          return
        }
        gauge.inc()
        let endedBy: SessionEnd | 'message_too_large' | undefined
        const endByGateway = (why: SessionEnd): void => {
          endedBy = why
          const reason = SESSION_END_REASON[why]
          // Both at once: a client that never answers the close frame relays nothing more.
          target.close(1008, reason)
          source.close(1008, reason)
          setTimeout(() => { source.terminate() }, CLOSE_GRACE_MS).unref()
        }
        const decision = decisions.get(socketOf(source))
        const untrack = decision === undefined
          ? undefined
          : sessions.track({ tenantId: decision.token.tenantId, clientId: decision.token.clientId, objectId: decision.token.objectId, expiresAt: decision.token.expiresAt }, endByGateway)
        // Ahead of http-proxy's own listener, which would close the other side with 1011.
        const tooLarge = (other: WebSocket) => (err: Error & { code?: string }) => {
          if (err.code !== TOO_LARGE) return
          endedBy = 'message_too_large'
          other.close(1009, 'message too big')
        }
        source.prependListener('error', tooLarge(target))
        target.prependListener('error', tooLarge(source))
        source.once('close', () => {
          gauge.dec()
          untrack?.()
          metrics.websocketClosed.inc({ reason: endedBy ?? 'peer' })
        })
      }
    }
  }
}

/** The client's TCP socket under ws's server-side WebSocket (ws keeps it as `_socket`). */
function socketOf (source: WebSocket): Socket {
  return (source as unknown as { _socket: Socket })._socket
}
