/**
 * CONTRACT.md §14 "Reload", every section but `server`: roles, the mappings file, rate limits,
 * the assertion's keys, the shared cache and WebSocket routes change with no restart, and the
 * parts a reload doesn't touch are kept — the JWKS store (no key fetch), the MySQL pool (the
 * same server threads) and the Redis connections (the same client ids). A new part that cannot
 * be built or reached refuses the reload and the active config keeps serving.
 */
import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'
import { stringify } from 'yaml'
import { Redis } from 'ioredis'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { startUpstream } from '../helpers/upstream.js'
import { eventually } from '../helpers/eventually.js'
import { call, startReloadable, tempDir } from '../helpers/reloadable.js'
import { freePort, startOrganizationsDb, startRedis } from '../helpers/services.js'
import { echoes, openSocket } from '../helpers/websocket-client.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

t.test('roles, the mappings file, rate limits and the assertion keys apply live; the JWKS store is kept', async (t) => {
  const issuer = await startIssuer(t)
  const upstream = await startUpstream(t)
  const dir = tempDir(t)
  const mappingsFile = join(dir, 'mappings.yaml')
  writeFileSync(mappingsFile, stringify(DEFAULT_MAPPINGS))
  const base = {
    ...authConfig(issuer, upstream.url, { routes: [{ name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Employee'] }] }),
    mappings: { source: 'file', file: mappingsFile }
  }
  const gw = await startReloadable(t, dir, base)
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const url = `${gw.gw.proxyUrl}/api/meetings/x`
  t.equal((await call(url, token)).status, 200)
  const fetches = issuer.jwksFetches()

  // roles: the route asks for Manager, then a role rule grants it to the tenant.
  const managers = { ...base, routes: [{ name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Manager'] }] }
  t.equal(await gw.apply(managers), 'ok')
  t.equal((await call(url, token)).code, 'ROLE_REQUIRED')
  const granted = { ...managers, roles: { mappings: [{ attribute: 'roles', value: '*' }, { attribute: 'tid', value: BANK_TENANT, role: 'Manager' }] } }
  t.equal(await gw.apply(granted), 'ok')
  t.same(await call(url, token).then(({ status, code }) => ({ status, code })), { status: 200, code: undefined }, 'the roles section applies live')

  // The mappings file: the tenant removed, then back.
  writeFileSync(mappingsFile, stringify({ ...DEFAULT_MAPPINGS, tenants: DEFAULT_MAPPINGS.tenants.filter((tenant) => tenant.tenantId !== BANK_TENANT) }))
  t.equal(await gw.gw.reload!.reload(), 'ok')
  t.equal((await call(url, token)).code, 'TENANT_NOT_MAPPED', 'the cached answer of the old file is not served')
  writeFileSync(mappingsFile, 'tenants: [this is not a mappings file')
  t.equal(await gw.gw.reload!.reload(), 'invalid', 'a mappings file with an error refuses the reload')
  t.equal((await call(url, token)).code, 'TENANT_NOT_MAPPED', 'and the active mappings stay')
  t.ok(gw.lines.some((line) => line.includes('config reload refused') && line.includes(mappingsFile)), 'the problem names the file')
  writeFileSync(mappingsFile, stringify(DEFAULT_MAPPINGS))
  t.equal(await gw.gw.reload!.reload(), 'ok')
  t.equal((await call(url, token)).status, 200)

  // rateLimits: one request an hour.
  const limited = { ...granted, rateLimits: { policies: [{ name: 'one', routes: ['meetings'], limit: 1, windowSec: 3600 }] } }
  t.equal(await gw.apply(limited), 'ok')
  t.equal((await call(url, token)).status, 200)
  const refused = await call(url, token)
  t.equal(refused.code, 'RATE_LIMITED', 'the new policy counts at once')
  t.equal(refused.headers.get('ratelimit-policy'), '"one";q=1;w=3600')
  // Another route: the policies are compiled again over the same counters, so no fresh quota.
  const moreRoutes = { ...limited, routes: [...limited.routes, { name: 'rooms', prefix: '/api/rooms', upstream: upstream.url, api: 'management', roles: ['Manager'] }] }
  t.equal(await gw.apply(moreRoutes), 'ok')
  t.equal((await call(url, token)).code, 'RATE_LIMITED', 'the count made before the reload still holds')

  // assertion: a key configured by reload signs what the upstream receives and is published.
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const keyFile = join(dir, 'assertion.pem')
  writeFileSync(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }))
  t.equal(await gw.apply({ ...granted, assertion: { keys: [{ kid: 'reloaded-1', privateKeyFile: keyFile }] } }), 'ok')
  t.equal((await call(url, token)).status, 200)
  const assertion = upstream.last().headers['x-bookme-assertion']
  t.equal(typeof assertion === 'string' ? decodeProtectedHeader(assertion).kid : undefined, 'reloaded-1', 'the upstream receives an assertion signed with the new key')
  const published = await fetch(`${gw.gw.adminUrl}/jwks.json`)
  t.same(((await published.json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid), ['reloaded-1'], 'the admin port publishes it')
  // A rotation: the same token's next assertion is signed with the new first key, not reused from the old one.
  const nextFile = join(dir, 'assertion-2.pem')
  writeFileSync(nextFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
  t.equal(await gw.apply({ ...granted, assertion: { keys: [{ kid: 'reloaded-2', privateKeyFile: nextFile }, { kid: 'reloaded-1', privateKeyFile: keyFile }] } }), 'ok')
  t.equal((await call(url, token)).status, 200)
  const rotated = upstream.last().headers['x-bookme-assertion']
  t.equal(typeof rotated === 'string' ? decodeProtectedHeader(rotated).kid : undefined, 'reloaded-2', 'a kept assertion of the old key is not reused')
  // New role rules with the same key: the next assertion states the new roles, not the kept one's.
  const rotatedKeys = { keys: [{ kid: 'reloaded-2', privateKeyFile: nextFile }, { kid: 'reloaded-1', privateKeyFile: keyFile }] }
  t.equal(await gw.apply({ ...granted, roles: { mappings: [{ attribute: 'roles', value: '*' }, { attribute: 'tid', value: BANK_TENANT, role: 'Manager' }, { attribute: 'roles', value: 'Employee', role: 'Configurator' }] }, assertion: rotatedKeys }), 'ok')
  t.equal((await call(url, token)).status, 200)
  const remapped = upstream.last().headers['x-bookme-assertion']
  t.ok(typeof remapped === 'string' && (decodeJwt(remapped).roles as string[]).includes('Configurator'), 'the assertion states the roles of the new rules')

  const durations = (await (await fetch(`${gw.gw.adminUrl}/metrics`)).text()).split('\n').filter((line) => line.startsWith('bookme_gateway_request_duration_seconds_count'))
  t.ok(durations.length > 0)
  t.equal(new Set(durations.map((line) => line.split(' ')[0])).size, durations.length, 'one series per label set across the apps the reloads built')
  t.equal(issuer.jwksFetches(), fetches, 'no reload fetched the signing keys again: the JWKS store was kept')
  t.ok(gw.lines.some((line) => line.includes('config reload: applied to new requests') && line.includes('"rebuilt":["assertion","rateLimits"]')), 'the log names what was rebuilt: the assertion added, the rate limit removed')
  t.ok(gw.lines.some((line) => line.includes('config reload: applied to new requests') && line.includes('"rebuilt":["assertion"]')), 'and only the assertion at its rotation')
})

t.test('the MySQL pool and the Redis connections survive a reload that does not touch them; a new Redis must answer first', async (t) => {
  const [issuer, upstream, redis] = await Promise.all([startIssuer(t), startUpstream(t), startRedis(t)])
  const db = await startOrganizationsDb(t, `INSERT INTO Banks VALUES ('1001', 'Demo', 1); INSERT INTO TenantBanks VALUES ('${BANK_TENANT}', '1001', 0);`)
  const base = {
    ...authConfig(issuer, upstream.url, { routes: [{ name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Employee'] }] }),
    mappings: { source: 'mysql', mysql: { host: db.host, port: db.port, user: db.user, password: db.password } },
    cache: { store: 'redis', redis: { url: redis.url }, localTtlSec: 0 }
  }
  const gw = await startReloadable(t, tempDir(t), base)
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const url = `${gw.gw.proxyUrl}/api/meetings/x`
  t.equal((await call(url, token)).status, 200)

  const probe = new Redis(redis.url)
  t.teardown(() => probe.disconnect())
  const redisClients = async (): Promise<string[]> => {
    const own = String(await probe.client('ID'))
    return String(await probe.client('LIST')).split('\n').filter(Boolean).map((line) => /id=(\d+)/.exec(line)![1]!).filter((id) => id !== own).sort()
  }
  const mysqlThreads = (): string[] => db.rows(`SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '${db.user}' ORDER BY ID`).map(([id]) => id!)
  const clientsBefore = await redisClients()
  const threadsBefore = mysqlThreads()
  t.ok(clientsBefore.length > 0 && threadsBefore.length > 0)

  const managers = { ...base, routes: [{ name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Manager'] }] }
  t.equal(await gw.apply(managers), 'ok')
  t.equal((await call(url, token)).code, 'ROLE_REQUIRED')
  db.sql(`DELETE FROM TenantBanks; INSERT INTO TenantBanks VALUES ('${BANK_TENANT}', '1001', 0);`, 'bp_organizations_db')
  t.same(await redisClients(), clientsBefore, 'the same Redis connections')
  t.same(mysqlThreads(), threadsBefore, 'the same MySQL connections')

  // A cache no Redis answers at: refused, the active one keeps serving.
  const nowhere = { ...managers, cache: { ...base.cache, redis: { url: `redis://127.0.0.1:${await freePort()}`, connectTimeoutMs: 200 } } }
  t.equal(await gw.apply(nowhere), 'invalid', 'a new shared cache that does not answer refuses the reload')
  t.equal((await call(url, token)).code, 'ROLE_REQUIRED', 'the active config stays')
  // So does a new MySQL pool the server refuses (a rotated password or certificate it does not take).
  const refusedPassword = { ...managers, mappings: { source: 'mysql', mysql: { ...base.mappings.mysql, password: 'not-the-password' } } }
  t.equal(await gw.apply(refusedPassword), 'invalid', 'a new MySQL pool that does not answer refuses the reload')
  t.ok(gw.lines.some((line) => line.includes('mappings.mysql: the new connection does not answer')))
  t.same(mysqlThreads(), threadsBefore, 'the active pool serves on')

  // A second Redis: new connections there, the first one's closed once nothing uses them.
  const second = await startRedis(t)
  t.equal(await gw.apply({ ...managers, cache: { ...base.cache, redis: { url: second.url } } }), 'ok')
  t.equal((await call(url, token)).code, 'ROLE_REQUIRED')
  await eventually(async () => await redisClients(), (ids) => ids.length === 0, 10_000)
  t.pass('the replaced Redis connections are closed')
  t.same(mysqlThreads(), threadsBefore, 'the MySQL pool is still the same')
})

t.test('a WebSocket route\'s handshake is decided by the config active when it arrives', async (t) => {
  const issuer = await startIssuer(t)
  const echo = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  echo.on('connection', (socket) => { socket.on('message', (data) => { socket.send(data) }) })
  t.teardown(() => { echo.close() })
  await once(echo, 'listening')
  const upstream = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`
  const dir = tempDir(t)
  const mappingsFile = join(dir, 'mappings.yaml')
  writeFileSync(mappingsFile, stringify(DEFAULT_MAPPINGS))
  const routeWith = (roles: string[]) => ({
    ...authConfig(issuer, upstream, { routes: [{ name: 'live', prefix: '/live', upstream, api: 'management', roles, websocket: true }] }),
    mappings: { source: 'file', file: mappingsFile }
  })
  const gw = await startReloadable(t, dir, routeWith(['Employee']), { requestTimeoutMs: 1000, shutdownGraceMs: 500 })
  const token = issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT })
  const wsUrl = `${gw.gw.proxyUrl.replace('http', 'ws')}/live/echo`
  const open = await openSocket(t, wsUrl, token)
  t.equal(open.readyState, open.OPEN, 'admitted under the first config')

  t.equal(await gw.apply(routeWith(['Manager'])), 'ok')
  await t.rejects(openSocket(t, wsUrl, token), /403/, 'the next handshake is refused under the new roles')
  t.equal(await echoes(open, 'still here'), 'still here', 'the session opened before the reload goes on')

  t.equal(await gw.apply(routeWith(['Employee'])), 'ok')
  const again = await openSocket(t, wsUrl, token)
  t.equal(again.readyState, again.OPEN)

  // The app that relays `again` is replaced, then closed once its wait is over: the session goes on.
  const closedBefore = gw.lines.filter((line) => line.includes('the replaced app and the parts only it used are closed')).length
  t.equal(await gw.apply(routeWith(['Employee', 'Manager'])), 'ok')
  await eventually(() => gw.lines.filter((line) => line.includes('the replaced app and the parts only it used are closed')).length, (n) => n >= closedBefore + 1, 15_000)
  t.equal(await echoes(again, 'after the app closed'), 'after the app closed', 'a session outlives the app it was opened through')
})
