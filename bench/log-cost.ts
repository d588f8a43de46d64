/**
 * CPU of one request line through the process logger's stdout batching (all threads, user and
 * system), with stdout redirected to a file as the side-by-side bench gives it:
 *
 *   node --import tsx bench/log-cost.ts [dist] > /tmp/lines.log
 *
 * Without `dist`, this checkout's src/; with it, another build's (an A/B of two commits).
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

type LoggerModule = typeof import('../src/observability/logger.js')
const [dist] = process.argv.slice(2)
const from = dist === undefined ? '../src/observability/logger.js' : pathToFileURL(resolve(dist, 'observability/logger.js')).href
const { createLogger, createAccessLog, flushLogger } = await import(from) as LoggerModule
const logger = createLogger()
const log = createAccessLog(logger)
// The facts of a cached user token, as the decision log writes them.
const facts = { api: 'bank-api', tenantId: '0f3c9d1e-4a5b-4c6d-8e7f-9a0b1c2d3e4f', bankId: '1007', principalType: 'user' as const, principalId: '7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d', clientId: 'b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e', kid: 'kid-1', tokenCache: 'hit' as const }
const lines = 300_000
const start = process.cpuUsage()
let written = 0
// Thirty lines a turn, as a loaded gateway's poll phase gives them, so the pool's writes complete between turns.
await new Promise<void>((resolve) => {
  const turn = (): void => {
    for (let k = 0; k < 30 && written < lines; k++, written++) log({ requestId: `req-${written}`, method: 'GET', path: '/api/data', route: 'api', status: 200, durationMs: 1.234, decision: 'allow', facts })
    if (written < lines) setImmediate(turn)
    else resolve()
  }
  turn()
})
flushLogger(logger)
const { user, system } = process.cpuUsage(start)
process.stderr.write(`${dist ?? 'src'}: ${((user + system) / lines * 1000).toFixed(0)} ns of CPU a line (user ${(user / lines * 1000).toFixed(0)}, system ${(system / lines * 1000).toFixed(0)})\n`)
