import t from 'tap'
import { createTokenCache } from '../../src/token/token-cache.js'

t.test('entries live until min(exp, ttl), the cache stays within maxEntries, 0 disables', async (t) => {
  let now = 1_000_000
  const cache = createTokenCache<string>({ maxEntries: 2, ttlSec: 300, now: () => now })
  cache.set('a', 'A', now + 10_000) // exp in 10 s
  cache.set('b', 'B', now + 3_600_000) // exp in 1 h → ttl 300 s rules
  t.equal(cache.get('a'), 'A')
  now += 10_000
  t.equal(cache.get('a'), undefined, 'gone at exp')
  t.equal(cache.get('b'), 'B')
  now += 290_000
  t.equal(cache.get('b'), undefined, 'gone at ttl')
  cache.set('c', 'C', now + 60_000)
  cache.set('d', 'D', now + 60_000)
  cache.set('e', 'E', now + 60_000)
  t.equal(cache.size, 2, 'bounded')
  t.equal(cache.get('c'), undefined, 'oldest evicted')
  cache.set('x', 'X', now - 1)
  t.equal(cache.get('x'), undefined, 'an already expired token is not cached')
  const off = createTokenCache<string>({ maxEntries: 0, ttlSec: 300 })
  off.set('a', 'A', Date.now() + 60_000)
  t.equal(off.get('a'), undefined, 'maxEntries 0 disables')
})

t.test('expired entries leave memory under steady traffic on other tokens, and nothing unexpired goes with them', async (t) => {
  let now = 1_000_000
  const cache = createTokenCache<string>({ maxEntries: 10_000, ttlSec: 300, now: () => now })
  for (let i = 0; i < 1000; i++) cache.set(`burst-${i}`, 'B', now + 3_600_000)
  now += 200_000
  cache.set('hot', 'H', now + 3_600_000)
  now += 150_000 // the burst is past ttlSec; 'hot' is not
  let reads = 0
  while (cache.size > 1 && reads < 100_000) {
    if (cache.get('hot') !== 'H') t.fail('the live entry was dropped')
    reads++
  }
  t.equal(cache.size, 1, 'only the live entry is left, though no new token came to push the dead ones out')
  now += 200_000
  for (let i = 0; i < 300; i++) cache.get('other')
  t.equal(cache.size, 0, 'and it goes too once expired')
})
