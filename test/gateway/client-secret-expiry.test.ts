import t from 'tap'
import { startUpstream } from '../helpers/upstream.js'
import { startTestGateway } from '../helpers/gateway.js'
import { authConfig, startIssuer } from '../helpers/issuer.js'
import { eventually } from '../helpers/eventually.js'

t.test('secret expiry is a gauge per client and a warning within 30 days', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const soon = new Date(Date.now() + 10 * 86_400_000)
  const later = new Date(Date.now() + 300 * 86_400_000)
  const gw = await startTestGateway(t, authConfig(issuer, upstream.url), {
    mappings: {
      banks: [{ id: '1001', name: 'Demo' }],
      clients: [
        { clientId: 'aaaaaaaa-0000-4000-8000-000000000001', bankId: '1001', secretExpiresAt: soon.toISOString() },
        { clientId: 'aaaaaaaa-0000-4000-8000-000000000002', bankId: '1001', secretExpiresAt: later.toISOString() },
        { clientId: 'aaaaaaaa-0000-4000-8000-000000000003', bankId: '1001' }
      ]
    }
  })
  // The gauges are set once the mappings are read at start-up.
  const metrics = await eventually(async () => await (await fetch(`${gw.adminUrl}/metrics`)).text(), (text) => text.includes('aaaaaaaa-0000-4000-8000-000000000002'))
  const gauge = (client: string): number | undefined => {
    const m = new RegExp(`bookme_gateway_bank_client_secret_expiry_timestamp_seconds\\{client_id="${client}",bank_id="1001"\\} (\\S+)`).exec(metrics)
    return m ? Number(m[1]) : undefined
  }
  t.equal(gauge('aaaaaaaa-0000-4000-8000-000000000001'), Math.floor(soon.getTime()) / 1000)
  t.equal(gauge('aaaaaaaa-0000-4000-8000-000000000002'), Math.floor(later.getTime()) / 1000)
  t.equal(gauge('aaaaaaaa-0000-4000-8000-000000000003'), undefined, 'no expiry recorded: no sample')
  const warnings = gw.logs.filter((line) => line.msg === 'bank client secret expires soon')
  t.same(warnings.map((w) => [w.level, w.clientId, w.days]), [[40, 'aaaaaaaa-0000-4000-8000-000000000001', 9]])
})
