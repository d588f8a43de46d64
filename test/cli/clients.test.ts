import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { runCommand } from '../helpers/command-line.js'
import { MGMT_CLIENT } from '../helpers/issuer.js'

function writeConfig (t: Test, mappings: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'mappings.yaml'), stringify(mappings))
  writeFileSync(join(dir, 'gateway.yaml'), stringify({ apis: { m: { clientId: MGMT_CLIENT } }, routes: [{ name: 'x', prefix: '/x', upstream: 'http://127.0.0.1:1', api: 'm' }], mappings: { source: 'file', file: 'mappings.yaml' } }))
  return join(dir, 'gateway.yaml')
}

t.test('clients: --expiring-within exits 1 when a secret expires in the window; --json; a window needs a unit', async (t) => {
  const soon = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10)
  const later = new Date(Date.now() + 200 * 86_400_000).toISOString().slice(0, 10)
  const config = writeConfig(t, {
    banks: [{ id: '1001', name: 'Demo' }],
    clients: [
      { clientId: 'aaaaaaaa-0000-4000-8000-000000000001', bankId: '1001', description: 'later', secretExpiresAt: later },
      { clientId: 'aaaaaaaa-0000-4000-8000-000000000002', bankId: '1001', description: 'soon', secretExpiresAt: soon }
    ]
  })
  const alert = await runCommand(['clients', '--expiring-within', '90d', '--config', config])
  t.equal(alert.code, 1, 'a secret expires within 90 days: exit 1')
  t.match(alert.stdout, /000000000002.*soon/)
  const quiet = await runCommand(['clients', '--expiring-within', '1w', '--config', config])
  t.same([quiet.code, quiet.stdout], [0, 'no client secret expires in that window\n'], 'none within a week: exit 0')
  const json = await runCommand(['clients', '--json', '--config', config])
  t.equal(json.code, 0)
  t.match(JSON.parse(json.stdout), [
    { clientId: 'aaaaaaaa-0000-4000-8000-000000000002', bankId: '1001', bankName: 'Demo', description: 'soon', enabled: true, daysLeft: Number },
    { clientId: 'aaaaaaaa-0000-4000-8000-000000000001', description: 'later' }
  ])
  const windowJson = await runCommand(['clients', '--json', '--expiring-within', '90d', '--config', config])
  t.equal(windowJson.code, 1)
  t.equal((JSON.parse(windowJson.stdout) as unknown[]).length, 1)
  for (const window of ['90', '90 days', '3m']) {
    const res = await runCommand(['clients', '--expiring-within', window, '--config', config])
    t.equal(res.code, 2, `"${window}" refused`)
    t.match(res.stderr, /--expiring-within takes a number with a unit/)
  }
})

t.test('clients --json: daysLeft is the whole days until expiry, the number the text shows; negative once expired; null when none', async (t) => {
  // An hour past the 29th day: 29 whole days, whenever the test runs.
  const in29 = new Date(Date.now() + 29 * 86_400_000 + 3_600_000).toISOString()
  const ago = new Date(Date.now() - 3 * 86_400_000 - 3_600_000).toISOString()
  const config = writeConfig(t, {
    banks: [{ id: '1001', name: 'Demo' }],
    clients: [
      { clientId: 'aaaaaaaa-0000-4000-8000-000000000001', bankId: '1001', description: 'rotating', secretExpiresAt: in29 },
      { clientId: 'aaaaaaaa-0000-4000-8000-000000000002', bankId: '1001', description: 'expired', secretExpiresAt: ago },
      { clientId: 'aaaaaaaa-0000-4000-8000-000000000003', bankId: '1001', description: 'unknown' }
    ]
  })
  const json = await runCommand(['clients', '--json', '--config', config])
  t.equal(json.code, 0, json.stderr)
  const entries = JSON.parse(json.stdout) as Array<{ clientId: string, daysLeft: number | null }>
  t.same(entries.map((entry) => [entry.clientId.slice(-1), entry.daysLeft]), [['2', -4], ['1', 29], ['3', null]])
  const text = await runCommand(['clients', '--config', config])
  t.match(text.stdout, /\(29 days\)\s+aaaaaaaa-0000-4000-8000-000000000001/, 'the text says the same number')
  t.match(text.stdout, /\(-4 days\)\s+aaaaaaaa-0000-4000-8000-000000000002/)
})
