/**
 * The proxy hop: one request streamed to an undici dispatcher and its answer streamed back to the
 * client's ServerResponse, with no copies, retries or re-parsing in between. It replaces
 * @fastify/reply-from on the request path, which cost more CPU per request than the whole
 * gateway pipeline in front of it (bench/README.md).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { nominatedHeaders, type HeaderMap } from './upstream-headers.js'
import { varyWith } from '../http/index.js'
import { continueIfExpected } from '../http/index.js'

export interface UpstreamRequest {
  method: string
  /** Path and raw query, as the upstream should receive them. */
  path: string
  headers: HeaderMap
  body: Readable | null
  timeoutMs: number
}

export interface HopEvents {
  /**
   * The upstream answered: the gateway's own response headers, which win over the upstream's;
   * but `vary`, whose fields are added to the upstream's.
   */
  ownHeaders (): Record<string, string | number | string[] | undefined>
  /** The status line and headers are written: from here on the hop owns the response. */
  responseStarted (): void
  /** No answer could be started (connect, timeout, body error): the caller answers the client. */
  failedBeforeResponse (error: Error): void
  /** The answer broke off after its status line was sent: the client connection is cut. */
  failedDuringResponse (error: Error): void
  /** The answer was passed on whole (a span's end); absent means nobody asks. */
  completed?: () => void
  /** Rewrites an upstream `Location` value (prefix rewriting); absent means kept as is. */
  rewriteLocation?: (location: string) => string
}

/**
 * RFC 9110 §7.6.1 hop-by-hop fields of a response, never passed on. `content-length` is passed on,
 * so Node keeps the upstream's framing; anything else it frames itself.
 */
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade',
  'http2-settings', 'te', 'trailer'])

/** Bytes of an answer that may wait for a slow client before the upstream is paused. */
const MAX_QUEUED_BYTES = 128 * 1024

export function forwardToUpstream (dispatcher: Dispatcher, req: IncomingMessage, res: ServerResponse, request: UpstreamRequest, events: HopEvents): void {
  // The client left while its request was being decided (a key fetch, a Graph lookup): its
  // 'close' has come and gone, nobody is left to answer, and the upstream is not called.
  if (res.destroyed) return
  let abort: ((reason?: Error) => void) | null = null
  let answered = false
  let finished = false
  let clientGone = false
  let held: Buffer | null = null
  let resumeUpstream: (() => void) | null = null
  const onClientGone = (): void => {
    if (finished) return
    clientGone = true
    abort?.(new Error('the client closed the connection'))
  }
  res.on('close', onClientGone) // emitted once; `on` spares the once-wrapper's removal

  const handler: Dispatcher.DispatchHandler = {
    onConnect (abortRequest) {
      abort = abortRequest
      // Still queued for a connection when the client left: never sent.
      if (clientGone) abortRequest(new Error('the client closed the connection'))
    },
    onHeaders (statusCode, rawHeaders, resume) {
      // An interim answer (RFC 9110 §15.2) comes before the final one, which undici reports next.
      if (statusCode < 200) {
        if (statusCode === 103) passEarlyHints(req, res, responseHeaders(rawHeaders as unknown as Buffer[], events))
        return true
      }
      const headers = responseHeaders(rawHeaders as unknown as Buffer[], events)
      const upstreamVary = headers.vary
      const own = events.ownHeaders()
      for (const name in own) if (own[name] !== undefined) headers[name] = own[name]
      if (upstreamVary !== undefined && typeof own.vary === 'string') headers.vary = varyWith(upstreamVary, own.vary)
      // An HTTP/1 connection cannot be reused while the client's body is unread: close it.
      if (!req.complete) headers.connection = 'close'
      try {
        res.writeHead(statusCode, headers)
      } catch (error) {
        // An out-of-range status or a header Node refuses: nothing was sent yet.
        abort?.(error as Error)
        return false
      }
      answered = true
      events.responseStarted()
      resumeUpstream = resume
      if (isBodiless(request.method, statusCode)) {
        // Complete at its head, whatever Content-Length it declares (RFC 9110 §8.6: a 304 or an
        // answer to HEAD may state the length a GET's body would have). undici still compares
        // that length with the bytes it read for a 304 and fails the request: by then the client
        // has its whole answer, and the error is only the upstream connection's.
        finished = true
        res.end()
        events.completed?.()
      }
      return true
    },
    onData (chunk) {
      // One chunk is held back, so a one-chunk answer leaves with its head in a single write.
      const previous = held
      held = chunk
      if (previous === null) return true
      res.write(previous)
      // write() answers false for any chunk over 16 KiB, even one the socket hands to the kernel
      // whole on the next tick: pausing the upstream for it cost two epoll_ctl calls and a
      // pause/resume per large answer. Hold the upstream back only while more than MAX_QUEUED
      // bytes wait for the client ('drain' then follows: the write that queued them said false).
      if (res.writableLength <= MAX_QUEUED_BYTES) return true
      res.once('drain', resumeUpstream!)
      return false
    },
    onComplete () {
      if (finished) return
      finished = true
      if (held === null) res.end()
      else res.end(held)
      held = null
      events.completed?.()
    },
    onError (error) {
      // The client's answer is already whole, or it was our own abort after the client left:
      // nobody to answer and nothing to report.
      if (finished || clientGone) return
      finished = true
      if (answered) {
        events.failedDuringResponse(error)
        res.destroy(error)
      } else {
        events.failedBeforeResponse(error)
      }
    }
  }

  // Admitted: only now is the body invited (CONTRACT.md §1.4).
  continueIfExpected(res)
  dispatcher.dispatch({
    method: request.method as Dispatcher.HttpMethod,
    path: request.path,
    headers: request.headers as Record<string, string | string[]>,
    body: request.body,
    headersTimeout: request.timeoutMs,
    bodyTimeout: request.timeoutMs
  }, handler)
}

/** A final answer that ends at its head (RFC 9110 §6.4.1): to HEAD, 204 and 304. */
function isBodiless (method: string, statusCode: number): boolean {
  return method === 'HEAD' || statusCode === 204 || statusCode === 304
}

/**
 * `103 Early Hints` (RFC 8297) passed on, so the client may start fetching what the final
 * answer will need. Never to an HTTP/1.0 client (RFC 9110 §15.2); a hint Node refuses (no or
 * an invalid `Link`) is dropped: it is only a hint.
 */
function passEarlyHints (req: IncomingMessage, res: ServerResponse, headers: OutgoingHttpHeaders): void {
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return
  const hints: Record<string, string | string[]> = {}
  for (const name in headers) {
    const value = headers[name]!
    // Node writes a list of links itself; any other repeated field goes as one line.
    hints[name] = !Array.isArray(value) ? String(value) : name === 'link' ? value : value.join(', ')
  }
  try {
    res.writeEarlyHints(hints)
  } catch {}
}

/** Upstream header buffers as Node's flat name→value map, without hop-by-hop and nominated fields. */
function responseHeaders (raw: Buffer[], events: HopEvents): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {}
  let nominated: ReadonlySet<string> | null = null
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase()
    const value = raw[i + 1]!.toString('latin1')
    if (name === 'connection') nominated = nominatedHeaders(value)
    if (RESPONSE_HOP_BY_HOP.has(name)) continue
    const current = headers[name]
    if (current === undefined) headers[name] = value
    else if (Array.isArray(current)) current.push(value)
    else headers[name] = [String(current), value]
  }
  if (nominated !== null) for (const name of nominated) delete headers[name]
  if (events.rewriteLocation !== undefined && typeof headers.location === 'string') {
    headers.location = events.rewriteLocation(headers.location)
  }
  return headers
}
