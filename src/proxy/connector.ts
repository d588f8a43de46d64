/**
 * The upstream pools' connector: undici's own, whose sockets drop a `100 Continue` an upstream
 * sends unasked. RFC 9110 §15.2: a client must parse any 1xx before the final answer, even one
 * it did not expect. undici's HTTP/1 client passes other 1xx to the hop (forward.ts drops them
 * or passes 103 on) but fails the request on a 100 ("bad response": it never sends `Expect`), so
 * an upstream that sends one anyway — behind a proxy that added `Expect`, or by habit — would
 * cost the client a 502 for an answer the upstream gave. The 100 is removed from what undici
 * reads, only where an answer starts: right after a request head was written, or after a 100.
 */
import { subscribe } from 'node:diagnostics_channel'
import type { Socket } from 'node:net'
import { buildConnector } from 'undici'

export function createUpstreamConnector (options: buildConnector.BuildOptions): buildConnector.connector {
  const connect = buildConnector(options)
  watchRequestHeads()
  return function connectUpstream (opts, callback) {
    connect(opts, (...answer) => {
      if (answer[0] === null) dropUnaskedContinue(answer[1])
      callback(...answer)
    })
  }
}

/** Per socket: whether the next bytes read start an answer, and a head start read so far. */
interface AnswerStart { atStart: boolean, pending: Buffer | null }

const filtered = new WeakMap<Socket, AnswerStart>()
let watching = false

/** undici announces each request head it writes (`undici:client:sendHeaders`): an answer follows. */
function watchRequestHeads (): void {
  if (watching) return
  watching = true
  subscribe('undici:client:sendHeaders', (message) => {
    const state = filtered.get((message as { socket: Socket }).socket)
    if (state !== undefined) state.atStart = true
  })
}

/** `HTTP/1.x 100` then a space or the line's end: a 100's status line. */
const CONTINUE_PREFIX = Buffer.from('HTTP/1.1 100')
/** A 100 head longer than this is not waited for: undici then sees it and fails as before. */
const MAX_HEAD_BYTES = 16 * 1024

function dropUnaskedContinue (socket: Socket): void {
  const state: AnswerStart = { atStart: false, pending: null }
  filtered.set(socket, state)
  // undici reads its sockets with read() on 'readable' (client-h1.js readMore).
  const read = socket.read
  socket.read = function readPastContinue (this: Socket, size?: number) {
    for (;;) {
      const chunk: Buffer | null = read.call(this, size)
      if (chunk === null || !state.atStart) return chunk
      const rest = skipContinueHeads(state, chunk)
      if (rest.length > 0) return rest
    }
  }
}

/** The bytes after any complete 100 heads at an answer's start; holds an undecided start back. */
function skipContinueHeads (state: AnswerStart, chunk: Buffer): Buffer {
  let bytes = state.pending === null ? chunk : Buffer.concat([state.pending, chunk])
  state.pending = null
  for (;;) {
    const verdict = continueHeadLength(bytes)
    if (verdict === 0) {
      state.atStart = false
      return bytes
    }
    if (verdict === -1) {
      if (bytes.length > MAX_HEAD_BYTES) {
        state.atStart = false
        return bytes
      }
      state.pending = bytes
      return bytes.subarray(0, 0)
    }
    bytes = bytes.subarray(verdict)
    if (bytes.length === 0) return bytes
  }
}

/** The length of the 100 head `bytes` start with; 0 when they start something else; -1 undecided. */
function continueHeadLength (bytes: Buffer): number {
  const compared = Math.min(bytes.length, CONTINUE_PREFIX.length + 1)
  for (let i = 0; i < compared; i++) {
    const byte = bytes[i]!
    if (i === CONTINUE_PREFIX.length) {
      if (byte !== 0x20 && byte !== 0x0d) return 0
    } else if (i === 7) {
      if (byte !== 0x30 && byte !== 0x31) return 0 // HTTP/1.0 or HTTP/1.1
    } else if (byte !== CONTINUE_PREFIX[i]) {
      return 0
    }
  }
  if (compared <= CONTINUE_PREFIX.length) return -1
  const end = bytes.indexOf('\r\n\r\n')
  return end === -1 ? -1 : end + 4
}
