import t from 'tap'
import { isPlainPrefix, upstreamPath } from '../../src/http/paths.js'

t.test('the rewrite prefix replaces the matched prefix, the rest kept as normalized', async (t) => {
  t.equal(upstreamPath('/api/meetings/42', '/api/meetings', '/meetings'), '/meetings/42')
  t.equal(upstreamPath('/api/meetings', '/api/meetings', '/meetings'), '/meetings', 'the prefix itself')
  t.equal(upstreamPath('/api/meetings/', '/api/meetings', '/meetings'), '/meetings/', 'a trailing slash kept')
  t.equal(upstreamPath('/api/x', '/api', '/api'), '/api/x', 'no rewrite')
  t.equal(upstreamPath('/flat/x/y', '/flat', '/'), '/x/y', 'an upstream mounted at the root')
  t.equal(upstreamPath('/flat', '/flat', '/'), '/')
  t.equal(upstreamPath('/x/y', '/', '/svc'), '/svc/x/y', 'a route at the root')
  t.equal(upstreamPath('/', '/', '/'), '/')
})

t.test('matching is case-insensitive; the configured spelling is forwarded', async (t) => {
  t.equal(upstreamPath('/API/Admin/Users', '/api/admin', '/api/admin'), '/api/admin/Users')
})

t.test('a path not under the prefix on a segment boundary is refused, never forwarded', async (t) => {
  t.equal(upstreamPath('/api/adminx', '/api/admin', '/admin'), null)
  t.equal(upstreamPath('/ap', '/api', '/api'), null)
  t.equal(upstreamPath('/other/api', '/api', '/api'), null)
  t.equal(upstreamPath('/a%21b/x', '/a!b', '/a!b'), null, 'an escaped spelling of the prefix')
})

t.test('only prefixes of unreserved characters are plain', async (t) => {
  for (const prefix of ['/', '/api', '/api/v1.2/x_y-z~']) t.ok(isPlainPrefix(prefix), prefix)
  for (const prefix of ['/a!b', '/bänk', '/a(b)', '/a;b', 'api']) t.notOk(isPlainPrefix(prefix), prefix)
})
