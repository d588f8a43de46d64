/**
 * The rate-limit counters on Redis: the GCRA script (counting-script.ts) run for the requests of
 * one event-loop turn at once (counting-batches.ts), each counter a key under the key prefix.
 */
import { Cluster } from 'ioredis'
import type { RedisBackend } from '../backends/redis-backend.js'
import type { CounterStore } from './counter-store.js'
import { createCountingBatches, hashTagOf } from './counting-batches.js'
import { GCRA_SCRIPT } from './counting-script.js'

type GcraAdmit = (...args: Array<string | number | Array<string | number>>) => Promise<number[]>

export function createRedisCounterStore (backend: RedisBackend): CounterStore {
  const { client, keyPrefix } = backend
  // ioredis sends the script itself (EVAL, which loads it) once per connection, EVALSHA after that,
  // and EVAL again if a server answers NOSCRIPT (restarted, or a new primary).
  client.defineCommand('gcraAdmit', { lua: GCRA_SCRIPT })
  const gcraAdmit = (client as unknown as { gcraAdmit: GcraAdmit }).gcraAdmit.bind(client)
  // A cluster's script may only touch one slot: batches per hash tag there, one batch elsewhere.
  // ioredis flattens array arguments: the batch's arrays go as they are.
  const admitBatched = createCountingBatches(async (keys, requests, args) => await gcraAdmit(keys.length, keys, requests, args),
    client instanceof Cluster ? hashTagOf : () => '')

  return {
    admit (keys, rules) {
      const prefixed: string[] = []
      for (const key of keys) prefixed.push(keyPrefix + key)
      return admitBatched(prefixed, rules)
    },
    async prepareCounting () {
      const nodes = backend.primaries()
      const shas = await Promise.all(nodes.map(async (node) => await node.script('LOAD', GCRA_SCRIPT) as string))
      return `counting script loaded on ${shas.length === 1 ? 'the primary' : `${shas.length} primaries`} (sha1 ${shas[0]?.slice(0, 12) ?? '?'})`
    }
  }
}
