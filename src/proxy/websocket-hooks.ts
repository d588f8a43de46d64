/**
 * What a WebSocket route adds to @fastify/http-proxy's relay (CONTRACT.md §15): each session is
 * registered under its principal until it ends, closed by the gateway (1008) at its token's
 * `exp` and on a block that covers it, and a message over the route's limit in either
 * direction closes both sides with 1009 (ws's own default would buffer 100 MiB). And the
 * options http-proxy is registered with for such a route.
 */
import type { Socket } from 'node:net'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyHttpProxyOptions } from '@fastify/http-proxy'
import type { Pool } from 'undici'
import type { WebSocket } from 'ws'
import type { RouteConfig } from '../config/schema.js'
import type { Decision } from '../access/index.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import { querySuffix } from '../http/index.js'
import type { HeaderMap } from './upstream-headers.js'
import { SESSION_END_REASON, type SessionEnd, type WebSocketSessions } from './websocket-sessions.js'

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
          : sessions.track({ tenantId: decision.token.tenantId, clientId: decision.token.clientId, objectId: decision.token.objectId, issuedAt: decision.token.issuedAt, expiresAt: decision.token.expiresAt }, endByGateway)
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

/**
 * WebSocket routes keep @fastify/http-proxy, for its upgrade handling; their plain HTTP requests
 * still go through the gateway's hop (`forward`), like every other route's.
 */
export function webSocketProxyOptions (route: RouteConfig, pool: Pool, forward: (request: FastifyRequest, reply: FastifyReply, dest: string) => void,
  upstreamHeaders: (request: FastifyRequest, headers: HeaderMap, upgrade?: boolean) => HeaderMap,
  webSocket: WebSocketRouteHooks): FastifyHttpProxyOptions & { websocket: boolean } {
  return {
    prefix: route.prefix,
    upstream: route.upstream,
    rewritePrefix: route.rewritePrefix ?? route.prefix,
    websocket: route.websocket,
    proxyPayloads: false,
    // http-proxy keeps the routing, prefix rewriting, traversal checks and WebSockets; the HTTP
    // hop itself is ours (forward.ts), in place of @fastify/reply-from.
    handler: forward,
    undici: pool,
    disableRequestLogging: true,
    config: { routeName: route.name },
    // Not in the websocket-less half of the published types (see proxy-routes.ts).
    ...{ wsHooks: webSocket.wsHooks },
    // One message at most this large, from the client (server side) and from the upstream (client side).
    wsServerOptions: { maxPayload: route.websocketMaxMessageBytes },
    wsClientOptions: {
      maxPayload: route.websocketMaxMessageBytes,
      queryString: (_search: string | undefined, url: string) => querySuffix(url).slice(1),
      // Not in the published types, read by http-proxy's WebSocketProxy.
      ...{ rewriteRequestHeaders: (_headers: HeaderMap, request: FastifyRequest) => upstreamHeaders(request, pickWebSocketHeaders(request.headers), true) }
    }
  }
}

/** The ws client builds its own handshake; carry over what an upstream needs from the client's. */
function pickWebSocketHeaders (inbound: HeaderMap): HeaderMap {
  const picked: HeaderMap = {}
  for (const name of ['authorization', 'cookie', 'traceparent', 'tracestate', 'user-agent', 'origin']) {
    if (inbound[name] !== undefined) picked[name] = inbound[name]
  }
  return picked
}
