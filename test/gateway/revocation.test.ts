import t, { type Test } from 'tap'
import { once } from 'node:events'
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { WebSocketServer, type WebSocket } from 'ws'
import { startTestGateway, untilReady, type TestGateway } from '../helpers/gateway.js'
import { startRedis } from '../helpers/services.js'
import { startUpstream } from '../helpers/upstream.js'
import { runCommand } from '../helpers/command-line.js'
import { eventually } from '../helpers/eventually.js'
import { closed, echoes, openSocket } from '../helpers/websocket-client.js'
import { authConfig, BANK_TENANT, DEFAULT_MAPPINGS, MGMT_CLIENT, startIssuer } from '../helpers/issuer.js'

// Revocation (CONTRACT.md §15): `block --issued-before TIME` refuses a principal's tokens issued
// before TIME with 401 TOKEN_REVOKED on every gateway, cached tokens and open sessions included;
// tokens issued at or after TIME pass.

async function setup (t: Test) {
  const [issuer, upstream, redis] = await Promise.all([startIssuer(t), startUpstream(t), startRedis(t)])
  const ws = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  ws.on('connection', (socket) => { socket.on('message', (data) => { socket.send(`echo:${data.toString()}`) }) })
  await once(ws, 'listening')
  t.teardown(() => new Promise<void>((resolve) => {
    for (const client of ws.clients) client.terminate()
    ws.close(() => { resolve() })
  }))
  const wsUrl = `http://127.0.0.1:${(ws.address() as AddressInfo).port}`
  const raw = {
    ...authConfig(issuer, upstream.url, {
      routes: [
        { name: 'meetings', prefix: '/api/meetings', upstream: upstream.url, api: 'management', roles: ['Employee'] },
        { name: 'live', prefix: '/live', upstream: wsUrl, api: 'management', websocket: true }
      ]
    }),
    cache: { store: 'redis', redis: { url: redis.url } }
  }
  const dir = mkdtempSync(join(tmpdir(), 'bookme-revocation-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'mappings.yaml'), stringify(DEFAULT_MAPPINGS))
  writeFileSync(join(dir, 'gateway.yaml'), stringify({ ...raw, mappings: { source: 'file', file: 'mappings.yaml' } }))
  const cli = async (...args: string[]) => await runCommand([...args, '--config', join(dir, 'gateway.yaml')])
  const start = async (): Promise<TestGateway> => {
    const gw = await startTestGateway(t, raw, { mappings: DEFAULT_MAPPINGS })
    await untilReady(gw)
    return gw
  }
  const gateways = [await start(), await start()]
  /** A token of `oid` issued at `iatMs` (nbf the same, as Entra sets it). */
  const mint = (oid: string, iatMs: number): string => {
    const iat = Math.floor(iatMs / 1000)
    return issuer.mint({ tenantId: BANK_TENANT, audience: MGMT_CLIENT, claims: { oid, iat, nbf: iat, exp: iat + 3600 } })
  }
  const call = async (gw: TestGateway, token: string) => {
    const res = await fetch(`${gw.proxyUrl}/api/meetings/1`, { headers: { authorization: `Bearer ${token}` } })
    const body = res.status === 200 ? undefined : await res.json() as { code: string, detail: string }
    return { status: res.status, code: body?.code, detail: body?.detail, challenge: res.headers.get('www-authenticate') ?? undefined }
  }
  const statuses = async (token: string) => await Promise.all(gateways.map(async (gw) => (await call(gw, token)).status))
  return { gateways, mint, call, statuses, cli }
}

/** An instant to the second, as an operator types it. */
const iso = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z')

t.test('tokens issued before TIME get 401 TOKEN_REVOKED on both gateways within 1 s, cached or not; newer tokens and other users pass', async (t) => {
  const { gateways, mint, call, statuses, cli } = await setup(t)
  const oid = randomUUID()
  const time = Date.now() - 60_000
  const cached = mint(oid, time - 600_000)
  const uncached = mint(oid, time - 1000)
  const newer = mint(oid, time + 30_000)
  const atTime = mint(oid, time)
  const colleague = mint(randomUUID(), time - 600_000)
  t.same(await statuses(cached), [200, 200], 'the old token is verified and in both token caches')

  const bad = await cli('block', '--user', oid, '--issued-before', 'yesterday')
  t.equal(bad.code, 2, 'an unparsable TIME is a usage error')
  t.match(bad.stderr, /--issued-before: "yesterday" is not an ISO 8601 time with a zone/)
  t.equal((await cli('block', '--user', oid, '--issued-before', '2026-12-06T09:30:00')).code, 2, 'a time without a zone is refused')
  t.equal((await cli('blocks')).stdout, 'no blocks in force\n', 'nothing written')

  const revoked = await cli('block', '--user', oid, '--issued-before', iso(time), '--reason', 'laptop stolen')
  t.equal(revoked.code, 0, revoked.stdout + revoked.stderr)
  t.match(revoked.stdout, new RegExp(`^ok block user ${oid} tokens issued before ${iso(time)} until \\S+Z: 2 gateways notified$`, 'm'))
  t.same(await eventually(() => statuses(cached), (s) => s.every((status) => status === 401), 1000), [401, 401], 'the cached old token is refused by both gateways within 1 s')
  for (const gw of gateways) {
    for (const token of [cached, uncached]) {
      const answer = await call(gw, token)
      t.match(answer, { status: 401, code: 'TOKEN_REVOKED', detail: new RegExp(`issued before ${iso(time).replace('Z', '.000Z')}`) })
      t.match(answer.challenge, /^Bearer .*error="invalid_token"/, 'the client is told to get a new token')
    }
  }
  t.same(await statuses(newer), [200, 200], 'a token issued after TIME passes')
  t.same(await statuses(atTime), [200, 200], 'a token issued at TIME passes')
  t.same(await statuses(colleague), [200, 200], 'another user passes')

  const listed = await cli('blocks')
  t.match(listed.stdout, new RegExp(`^user  ${oid}  \\S+Z  laptop stolen  by \\S+  since \\S+Z  tokens issued before ${iso(time)}\\n$`), 'listed with its instant')
  const json = JSON.parse((await cli('blocks', '--json')).stdout) as Array<Record<string, unknown>>
  t.match(json, [{ kind: 'user', id: oid, reason: 'laptop stolen', issuedBefore: new Date(Math.floor(time / 1000) * 1000).toISOString() }])
  const until = Date.parse(String(json[0]!.until))
  t.ok(until - Date.now() > 86_300_000 && until - Date.now() <= 86_400_000, 'for 24h by default')

  const explained = await cli('explain', '--token', uncached, '--path', '/api/meetings/1')
  t.match(JSON.parse(explained.stdout), { decision: 'deny', status: 401, code: 'TOKEN_REVOKED', detail: /issued before \d{4}-/ }, 'explain shows it')
  t.match(JSON.parse((await cli('explain', '--token', newer, '--path', '/api/meetings/1')).stdout), { decision: 'allow' })

  // `now`, a second time: it replaces the first revocation.
  const again = await cli('block', '--user', oid, '--issued-before', 'now')
  t.match(again.stdout, new RegExp(`^ok block user ${oid} tokens issued before \\S+ until \\S+ \\(replaces the block of tokens issued before ${iso(time)}\\): 2 gateways notified$`, 'm'))
  const instant = Date.parse(String((JSON.parse((await cli('blocks', '--json')).stdout) as Array<Record<string, unknown>>)[0]!.issuedBefore))
  t.same(await eventually(() => statuses(newer), (s) => s.every((status) => status === 401), 1000), [401, 401], 'now: the newer token is revoked too')
  // Tokens carry whole seconds: one issued in the second after the instant is newer.
  await eventually(() => Date.now(), (now) => Math.floor(now / 1000) * 1000 >= instant, 2000)
  t.same(await statuses(mint(oid, Date.now())), [200, 200], 'a token issued after now passes')

  // A full block wins; a revocation never replaces it.
  t.equal((await cli('block', '--user', oid)).code, 0)
  t.match(await eventually(() => call(gateways[1]!, cached), (a) => a.status === 403, 1000), { status: 403, code: 'PRINCIPAL_BLOCKED' })
  t.match(await call(gateways[0]!, newer), { status: 403, code: 'PRINCIPAL_BLOCKED' })
  const weaker = await cli('block', '--user', oid, '--issued-before', 'now')
  t.equal(weaker.code, 1)
  t.match(weaker.stdout, /^FAIL block: user .* is blocked until .* \(every token refused\); a revocation would let its newer tokens in/)
  t.match(await call(gateways[0]!, mint(oid, Date.now())), { status: 403, code: 'PRINCIPAL_BLOCKED' }, 'still fully blocked')

  t.equal((await cli('unblock', '--user', oid)).code, 0)
  t.same(await eventually(() => statuses(cached), (s) => s.every((status) => status === 200), 1000), [200, 200], 'unblock lifts it on both within 1 s')
  t.equal((await cli('blocks')).stdout, 'no blocks in force\n')
})

t.test('a revocation closes the open sessions of old tokens with 1008 "token revoked" on every gateway; newer sessions stay open', async (t) => {
  const { gateways, mint, cli } = await setup(t)
  const oid = randomUUID()
  const time = Date.now() - 60_000
  const old = mint(oid, time - 600_000)
  const newer = mint(oid, time + 1000)
  const open = async (gw: TestGateway, token: string): Promise<WebSocket> => await openSocket(t, `${gw.proxyUrl.replace('http', 'ws')}/live/room`, token)
  const oldSockets = await Promise.all(gateways.map((gw) => open(gw, old)))
  const newSockets = await Promise.all(gateways.map((gw) => open(gw, newer)))
  for (const socket of [...oldSockets, ...newSockets]) t.equal(await echoes(socket, 'hi'), 'echo:hi')
  const closes = oldSockets.map(closed)

  const command = await cli('block', '--user', oid, '--issued-before', iso(time))
  t.equal(command.code, 0, command.stdout + command.stderr)
  const since = Date.now()
  t.same(await Promise.all(closes), [{ code: 1008, reason: 'token revoked' }, { code: 1008, reason: 'token revoked' }], 'both gateways close the old sessions')
  t.ok(Date.now() - since <= 1000, `within 1 s (${Date.now() - since} ms)`)
  for (const socket of newSockets) t.equal(await echoes(socket, 'still'), 'echo:still', 'a session of a newer token keeps relaying')
  for (const gw of gateways) {
    const metrics = await eventually(async () => await (await fetch(`${gw.adminUrl}/metrics`)).text(), (m) => /websocket_closed_total\{reason="token_revoked"\} 1$/m.test(m))
    t.match(metrics, /^bookme_gateway_websocket_closed_total\{reason="token_revoked"\} 1$/m)
  }
  await t.rejects(open(gateways[1]!, old), /status 401/, 'a new handshake of the old token is refused')
  t.equal(await echoes(await open(gateways[0]!, newer), 'new'), 'echo:new', 'one of the newer token is taken')
})
