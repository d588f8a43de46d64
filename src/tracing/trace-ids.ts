/**
 * W3C Trace Context ids (https://www.w3.org/TR/trace-context/#trace-id): 16 random bytes for a
 * trace, 8 for a span, as lower-case hex. The bytes come from a pooled buffer that
 * `crypto.randomFillSync` refills once every 170 requests, so an id costs one `toString('hex')`.
 * An all-zero id (invalid) would take 2^64 span ids to turn up once: not checked for.
 */
import { randomFillSync } from 'node:crypto'

const POOL_BYTES = 4096
const pool = Buffer.allocUnsafe(POOL_BYTES)
let offset = POOL_BYTES

function randomHex (bytes: number): string {
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool)
    offset = 0
  }
  const start = offset
  offset += bytes
  return pool.toString('hex', start, offset)
}

export function randomTraceId (): string {
  return randomHex(16)
}

export function randomSpanId (): string {
  return randomHex(8)
}
