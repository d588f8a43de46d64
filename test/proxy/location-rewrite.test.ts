import t from 'tap'
import { rewriteLocationPrefix } from '../../src/http/paths.js'

t.test('a Location under the upstream prefix moves under the route prefix, on segment boundaries', async (t) => {
  t.equal(rewriteLocationPrefix('/meetings/1', '/meetings', '/api/meetings'), '/api/meetings/1')
  t.equal(rewriteLocationPrefix('/meetings', '/meetings/', '/api/meetings/'), '/api/meetings')
  t.equal(rewriteLocationPrefix('/meetingsroom', '/meetings', '/api/meetings'), '/meetingsroom')
  t.equal(rewriteLocationPrefix('/x/y?q=1', '/', '/flat'), '/flat/x/y?q=1', 'an upstream mounted at the root')
  t.equal(rewriteLocationPrefix('/api/x', '/api', '/'), '/x', 'a route at the root')
  t.equal(rewriteLocationPrefix('/api', '/api', '/'), '/')
})

t.test('absolute, scheme-relative and relative Locations are kept', async (t) => {
  t.equal(rewriteLocationPrefix('https://idp.example/meetings', '/meetings', '/api/meetings'), 'https://idp.example/meetings')
  t.equal(rewriteLocationPrefix('//evil.example/x', '/', '/flat'), '//evil.example/x')
  t.equal(rewriteLocationPrefix('next', '/', '/flat'), 'next')
})
