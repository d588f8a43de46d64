import t, { type Test } from 'tap'
import { createMysqlSource } from '../../src/mappings/mysql-source.js'
import { createCachedMappings } from '../../src/mappings/cached-source.js'
import { createMemoryCache } from '../../src/backends/shared-cache.js'
import { startOrganizationsDb, type RunningMariaDb } from '../helpers/services.js'
import { BANK_TENANT, MULTI_BANK_TENANT, UNMAPPED_TENANT } from '../helpers/issuer.js'

// The cache's lifetimes (CONTRACT.md §4: ttlSec, negativeTtlSec, localTtlSec, staleIfErrorSec)
// on a clock the test moves, over the real MySQL source: no waiting, and no margin to lose
// on a loaded machine. test/gateway/bank-resolution-mysql.test.ts keeps one real-time run.
async function setup (t: Test, lifetimes: { ttlSec: number, negativeTtlSec: number, localTtlSec: number, staleIfErrorSec: number }) {
  const db = await startOrganizationsDb(t, `INSERT INTO Banks VALUES ('1001', 'Demo Bank', 1), ('2001', 'North', 1);
    INSERT INTO TenantBanks VALUES ('${BANK_TENANT}', '1001', 0), ('${MULTI_BANK_TENANT}', '2001', 0);`)
  let clock = 1_800_000_000_000
  const now = (): number => clock
  const source = createMysqlSource({ host: db.host, port: db.port, user: db.user, password: db.password, database: 'bp_organizations_db', connectionLimit: 2, connectTimeoutMs: 500, queryTimeoutMs: 1000, tls: { mode: 'disabled', at: 'mappings.mysql.tls' } })
  t.teardown(() => source.close())
  let queries = 0
  let stale = 0
  const mappings = createCachedMappings({
    source,
    store: createMemoryCache(now),
    ...lifetimes,
    now,
    events: { sourceQuery: () => { queries++ }, staleServed: () => { stale++ } }
  })
  const bankIds = async (tenantId: string): Promise<string[] | null> => {
    const mapping = await mappings.tenant(tenantId)
    return mapping === null ? null : mapping.banks.filter((bank) => bank.enabled).map((bank) => bank.bankId)
  }
  return { db: db as RunningMariaDb, bankIds, advance: (sec: number) => { clock += sec * 1000 }, queries: () => queries, stale: () => stale }
}

t.test('an answer is served ttlSec, then read again; "not mapped" negativeTtlSec', async (t) => {
  const { db, bankIds, advance, queries } = await setup(t, { ttlSec: 300, negativeTtlSec: 30, localTtlSec: 10, staleIfErrorSec: 3600 })
  t.same(await bankIds(BANK_TENANT), ['1001'])
  db.sql('UPDATE Banks SET Enabled = 0 WHERE BankId = \'1001\'', 'bp_organizations_db')
  advance(299)
  t.same(await bankIds(BANK_TENANT), ['1001'], 'still the cached answer just before ttlSec')
  t.equal(queries(), 1, 'one query so far')
  advance(2)
  t.same(await bankIds(BANK_TENANT), [], 'the change is visible after ttlSec')
  t.equal(queries(), 2)

  t.equal(await bankIds(UNMAPPED_TENANT), null)
  db.sql(`INSERT INTO TenantBanks VALUES ('${UNMAPPED_TENANT}', '2001', 0)`, 'bp_organizations_db')
  advance(29)
  t.equal(await bankIds(UNMAPPED_TENANT), null, '"not mapped" still cached just before negativeTtlSec')
  advance(2)
  t.same(await bankIds(UNMAPPED_TENANT), ['2001'], 'mapped after negativeTtlSec')
})

t.test('the source down: an expired answer is served for staleIfErrorSec, then MAPPING_UNAVAILABLE; back up: fresh again', async (t) => {
  const { db, bankIds, advance, stale } = await setup(t, { ttlSec: 60, negativeTtlSec: 30, localTtlSec: 10, staleIfErrorSec: 600 })
  t.same(await bankIds(BANK_TENANT), ['1001'])
  await db.kill()
  advance(61)
  t.same(await bankIds(BANK_TENANT), ['1001'], 'expired, but served while the source fails')
  t.equal(stale(), 1)
  await t.rejects(bankIds(MULTI_BANK_TENANT), { code: 'MAPPING_UNAVAILABLE' }, 'nothing cached: never a guess')
  advance(600)
  await t.rejects(bankIds(BANK_TENANT), { code: 'MAPPING_UNAVAILABLE' }, 'past staleIfErrorSec')
  await db.restart()
  t.same(await bankIds(MULTI_BANK_TENANT), ['2001'], 'the source answers again')
})
