import t from 'tap'
import { examplePath, renderChart } from '../helpers/helm-render.js'
import { startIssuer } from '../helpers/issuer.js'
import { localAddresses, podStartsReady } from '../helpers/pod-run.js'
import { startOrganizationsDb } from '../helpers/services.js'

// examples/small-values.yaml as its Deployment runs it (CONTRACT.md §16): MySQL mappings without
// TLS (an in-cluster server), the in-process cache. Its password comes from the chart's own
// Secret, as the example sets it; only addresses and the password are overridden.
t.test('the small example starts to /readyz 200 as its Deployment runs it', async (t) => {
  const issuer = await startIssuer(t)
  const db = await startOrganizationsDb(t)
  const manifests = renderChart({
    values: [examplePath('small-values.yaml')],
    set: { ...await localAddresses(issuer), 'config.mappings.mysql.host': '127.0.0.1', 'config.mappings.mysql.port': db.port, 'secrets.mysqlPassword': db.password }
  })
  const { ready } = await podStartsReady(t, { manifests })
  t.match(ready.body.dependencies, { source: { state: 'up', detail: /^mysql 127\.0\.0\.1:\d+\/bp_organizations_db/ } }, 'the mappings come from MySQL')
})
