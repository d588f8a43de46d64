/**
 * Our own undici pool per upstream, used by the hop and handed to http-proxy so its reply-from
 * builds no transport of its own (those default to `rejectUnauthorized: false`, CVE-2026-107318):
 * TLS verification explicitly on, keep-alive reuse. The pools live as long as the app.
 */
import { Pool } from 'undici'
import type { RouteConfig } from '../config/schema.js'
import { createUpstreamConnector } from './connector.js'

export interface UpstreamPools {
  /** A new pool for the route's upstream, closed with the others. */
  poolFor (route: RouteConfig): Pool
  close (): Promise<void>
}

export function createUpstreamPools (): UpstreamPools {
  const pools: Pool[] = []
  return {
    poolFor (route) {
      const pool = createUpstreamPool(route)
      pools.push(pool)
      return pool
    },
    async close () {
      await Promise.all(pools.map((pool) => pool.close()))
    }
  }
}

function createUpstreamPool (route: RouteConfig): Pool {
  return new Pool(new URL(route.upstream).origin, {
    connections: 128,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: route.timeoutMs,
    bodyTimeout: route.timeoutMs,
    // A socket's read buffer is 64 KiB: with undici's 64 KiB high-water mark every full read
    // stopped and restarted reading (two epoll_ctl calls per large answer). At 128 KiB one full
    // read never reaches it; a slow client still stops the socket, one read later.
    // (Not in undici's published types: its connector passes the options on to net.connect.)
    connect: createUpstreamConnector({ rejectUnauthorized: true, timeout: Math.min(route.timeoutMs, 10_000), ...{ highWaterMark: 128 * 1024 } })
  })
}
