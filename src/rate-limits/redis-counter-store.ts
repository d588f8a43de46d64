/**
 * The rate-limit counters on Redis, each a key under the key prefix. With `syncMs` 0 every
 * request runs the GCRA script (counting-script.ts), the requests of one event-loop turn in one
 * call (counting-batches.ts); with `syncMs` > 0 requests are counted from this pod's view and
 * reconciled every `syncMs` (synced-counters.ts).
 */
import { Cluster } from 'ioredis'
import type { RedisBackend } from '../backends/redis-backend.js'
import type { CounterStore } from './counter-store.js'
import { createCountingBatches, hashTagOf } from './counting-batches.js'
import { GCRA_SCRIPT, SYNC_SCRIPT } from './counting-script.js'
import { createSyncedCounters, type SendSync } from './synced-counters.js'

type Script<Reply> = (...args: Array<string | number | Array<string | number>>) => Promise<Reply>

/** Keys in one reconcile call: more would hold Redis from other clients for longer than it saves. */
const MAX_SYNC_KEYS = 256

export function createRedisCounterStore (backend: RedisBackend, syncMs = 0): CounterStore {
  const { client, keyPrefix } = backend
  // ioredis sends the script itself (EVAL, which loads it) once per connection, EVALSHA after that,
  // and EVAL again if a server answers NOSCRIPT (restarted, or a new primary).
  client.defineCommand('gcraAdmit', { lua: GCRA_SCRIPT })
  client.defineCommand('gcraSync', { lua: SYNC_SCRIPT })
  const scripts = client as unknown as { gcraAdmit: Script<string>, gcraSync: Script<number[]> }
  // A cluster's script may only touch one slot: calls per hash tag there, one call elsewhere.
  const groupOf = client instanceof Cluster ? hashTagOf : () => ''
  const prefixed = (keys: readonly string[]): string[] => keys.map((key) => keyPrefix + key)
  const script = syncMs > 0 ? SYNC_SCRIPT : GCRA_SCRIPT

  let admit: CounterStore['admit']
  if (syncMs > 0) {
    const synced = createSyncedCounters(syncMs, sendSync(groupOf, async (keys, args) => await scripts.gcraSync(keys.length, keys, args)))
    admit = (keys, rules) => synced.admit(prefixed(keys), rules)
  } else {
    // ioredis flattens array arguments: the batch's arrays go as they are.
    const admitBatched = createCountingBatches(async (keys, requests, args) => (await scripts.gcraAdmit(keys.length, keys, requests, args)).split(','), groupOf)
    admit = (keys, rules) => admitBatched(prefixed(keys), rules)
  }

  return {
    admit,
    async prepareCounting () {
      const nodes = backend.primaries()
      const shas = await Promise.all(nodes.map(async (node) => await node.script('LOAD', script) as string))
      return `${syncMs > 0 ? `reconciled every ${syncMs} ms, ` : ''}counting script loaded on ${shas.length === 1 ? 'the primary' : `${shas.length} primaries`} (sha1 ${shas[0]?.slice(0, 12) ?? '?'})`
    }
  }
}

/** One reconcile as calls of at most MAX_SYNC_KEYS keys of one slot group each, their answers put back in order. */
function sendSync (groupOf: (key: string) => string, call: SendSync): SendSync {
  return async (keys, args) => {
    const groups = new Map<string, number[]>()
    keys.forEach((key, i) => {
      const group = groupOf(key)
      const members = groups.get(group)
      if (members === undefined) groups.set(group, [i])
      else members.push(i)
    })
    const ahead: number[] = new Array(keys.length)
    const calls: Array<Promise<void>> = []
    for (const members of groups.values()) {
      for (let from = 0; from < members.length; from += MAX_SYNC_KEYS) {
        const chunk = members.slice(from, from + MAX_SYNC_KEYS)
        calls.push(call(chunk.map((i) => keys[i]!), chunk.flatMap((i) => args.slice(3 * i, 3 * i + 3))).then((reply) => {
          chunk.forEach((i, j) => { ahead[i] = Number(reply[j]) })
        }))
      }
    }
    await Promise.all(calls)
    return ahead
  }
}
