import t from 'tap'
import { createJwksStore } from '../../src/token/jwks-store.js'
import { startIssuer } from '../helpers/issuer.js'

// The key set's lifetimes on a clock the test moves (ENTRA.md §3.3; jwkset CVE-2025-22149: a
// key the authority stopped publishing must stop working), over the real local issuer.
t.test('a key is kept cacheTtlSec after it was last seen, then dropped; merged across fetches until then', async (t) => {
  const issuer = await startIssuer(t)
  let clock = 1_800_000_000_000
  const store = createJwksStore({ timeoutMs: 1000, cacheTtlSec: 600, refreshIntervalSec: 3600, minRefreshIntervalSec: 0, clockToleranceSec: 60, now: () => clock })
  t.teardown(() => store.close())
  const source = store.source(`${issuer.url}/common/v2.0/.well-known/openid-configuration`)
  await source.refresh()
  const first = issuer.keys[0]!
  t.ok(await source.getKey(first.kid), 'published: found')
  issuer.removeKey(first.kid)
  const second = issuer.addKey()
  clock += 300_000
  await source.refresh()
  t.ok(await source.getKey(second.kid), 'the new key is fetched')
  t.ok(await source.getKey(first.kid), 'the old one is merged, not replaced, while within cacheTtlSec of last being seen')
  clock += 301_000
  t.equal(await source.getKey(first.kid), undefined, 'past cacheTtlSec since it was last seen: gone, even after a refetch')
  t.ok(await source.getKey(second.kid), 'the one still published stays (seen at the refetch)')
  t.equal(source.keyCount, 1)
})
