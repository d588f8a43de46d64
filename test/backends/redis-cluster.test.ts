// The purge scenario (helpers/redis-purge-scenario.ts) on a Redis Cluster of three primaries.
import t from 'tap'
import { startCluster } from '../helpers/redis-topologies.js'
import { dbsize, purgeScenario } from '../helpers/redis-purge-scenario.js'

t.test('Cluster: keys spread over the primaries, purge --all scans each, check lists them', async (t) => {
  const cluster = await startCluster(t, { password: 'cluster-pw' })
  let spreadOver = 0
  const line = await purgeScenario(t, { cluster: { nodes: cluster.nodes.slice(0, 1) }, password: 'cluster-pw' }, () => {
    const sizes = cluster.primaries.map((p) => dbsize(p.port, undefined, 'cluster-pw'))
    spreadOver = Math.max(spreadOver, sizes.filter((n) => n > 0).length)
    return sizes
  })
  t.equal(spreadOver, 3, 'the answers sat on every primary')
  const spread = cluster.primaries.map((p) => `127.0.0.1:${p.port}`).sort().join(', ')
  t.equal(line, `redis cluster, 3 of 3 primaries answer (${spread}), TLS off`, 'one seed node was enough to find all three')
})
