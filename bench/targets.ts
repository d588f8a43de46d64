import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Request } from 'autocannon'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { stringify } from 'yaml'
import { createServer } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { startLocalIssuer, type LocalIssuer } from '../src/demo/local-issuer.js'
import { haproxyJwtConfig } from './peers/haproxy-jwt.js'

/** A benchmarked process: its port, its pid (for CPU time), and optional per-request variation. */
export interface Started {
  port: number
  pid: number
  url: string
  requests?: Request[]
  /** Where the process's stdout went. */
  logFile: string
  stop (): void
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const HAS_TASKSET = spawnSync('taskset', ['-V']).status === 0

/** Spawn (pinned to `cpu` where possible) and wait for the `{"listening": port}` line. */
export async function spawnServer (args: string[], env: NodeJS.ProcessEnv, cpu: number, listenLine = /"listening":(\d+)|proxy port listening at http:\/\/[^:]+:(\d+)|"proxyUrl":"http:\/\/[^:]+:(\d+)"/): Promise<Started> {
  // BENCH_NODE_OPTIONS (bench/profile.ts: --cpu-prof) applies to the servers under test, not the origin.
  const profiled = process.env.BENCH_NODE_OPTIONS && !args.includes('bench/origin.ts')
  const nodeArgs = profiled ? [...flagsFrom(process.env.BENCH_NODE_OPTIONS), ...args] : args
  // BENCH_WRAPPER (bench/instructions.ts: valgrind) runs them under another program too.
  const wrapper = args.includes('bench/origin.ts') ? [] : flagsFrom(process.env.BENCH_WRAPPER)
  const { child, logFile } = spawnPinned([...wrapper, process.execPath, ...nodeArgs], env, cpu)
  const port = await new Promise<number>((resolve, reject) => {
    const poll = setInterval(() => {
      const match = listenLine.exec(readFileSync(logFile, 'utf8').slice(0, 65536))
      if (match) {
        clearInterval(poll)
        resolve(Number(match[1] ?? match[2] ?? match[3]))
      }
    }, 50)
    child.once('exit', (code) => { clearInterval(poll); reject(new Error(`${args.join(' ')} exited with ${code}`)) })
  })
  return { port, pid: child.pid!, url: `http://127.0.0.1:${port}`, logFile, stop: () => child.kill('SIGKILL') }
}

/** Runs `argv` pinned to `cpu` where possible, its stdout to a file; killed with the harness. */
function spawnPinned (argv: string[], env: NodeJS.ProcessEnv, cpu: number): { child: ChildProcess, logFile: string } {
  const [command, ...rest] = HAS_TASKSET ? ['taskset', '-c', String(cpu), ...argv] : argv
  // Stdout goes to a file. BENCH_STDOUT=pipe puts a pipe between, drained by `cat` into the
  // file on the load generator's core, the way a container runtime's shim takes a pod's output.
  const logFile = join(mkdtempSync(join(tmpdir(), 'bookme-bench-log-')), 'stdout.log')
  const out = openSync(logFile, 'w')
  const drain = process.env.BENCH_STDOUT === 'pipe'
    ? spawn(HAS_TASKSET ? 'taskset' : 'cat', HAS_TASKSET ? ['-c', '1', 'cat'] : [], { stdio: ['pipe', out, 'inherit'] })
    : undefined
  const child: ChildProcess = spawn(command!, rest, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', drain?.stdin ?? out, 'inherit'] })
  closeSync(out)
  // However the harness ends (a crash included), the servers it started end with it.
  process.on('exit', () => { child.kill('SIGKILL'); drain?.kill('SIGKILL') })
  return { child, logFile }
}

/**
 * The origin, on CPU 1 beside the load generator (the default), or on CPU 0 beside the target
 * (`shared`: a 2-core machine where the proxy and its upstream share one core). `chunked`: it
 * writes its answer in 16 KiB pieces without a content-length, as a streaming framework does.
 */
export async function startOrigin ({ cpu = 1, chunked = false }: { cpu?: number, chunked?: boolean } = {}): Promise<Started> {
  return await spawnServer(['--import', 'tsx', 'bench/origin.ts'], chunked ? { ORIGIN_CHUNKED: '1' } : {}, cpu)
}

/** Which gateway build runs, with which node flags (e.g. `--max-semi-space-size=8`). */
export interface GatewayBuild { dist: string, nodeFlags: string[] }

const flagsFrom = (text: string | undefined): string[] => (text ?? '').split(' ').filter((flag) => flag !== '')
/** This checkout's `dist/`, with BENCH_GATEWAY_NODE_OPTIONS. */
export const thisBuild = (): GatewayBuild => ({ dist: 'dist', nodeFlags: flagsFrom(process.env.BENCH_GATEWAY_NODE_OPTIONS) })

/**
 * The `baseline-*` targets' build: BENCH_BASELINE_DIST (another checkout's dist, for an A/B of
 * two commits in one run; or this one's, for an A/B of node flags) with BENCH_BASELINE_NODE_OPTIONS.
 */
function baselineBuild (): GatewayBuild {
  const dist = process.env.BENCH_BASELINE_DIST
  if (!dist) throw new Error('baseline-* targets need BENCH_BASELINE_DIST=<another checkout>/dist')
  return { dist, nodeFlags: flagsFrom(process.env.BENCH_BASELINE_NODE_OPTIONS) }
}

/** Writes a gateway config for the bench and starts `node <dist>/cli.js start` on it. */
export async function startGateway (config: string, build = thisBuild()): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-bench-'))
  writeFileSync(join(dir, 'gateway.yaml'), config)
  return await spawnServer([...build.nodeFlags, join(build.dist, 'cli.js'), 'start', '--config', join(dir, 'gateway.yaml')], {}, 0)
}

const CLIENT_ID = '00000000-0000-0000-0000-000000000001'

/** `BENCH_BROWSER_HEADERS=1`: what a browser's fetch from the Management UI sends besides the token. */
const BROWSER_HEADERS: Record<string, string> = {
  accept: 'application/json, text/plain, */*',
  'accept-encoding': 'gzip, deflate, br, zstd',
  'accept-language': 'en-GB,en;q=0.9,de;q=0.8',
  origin: 'https://ui.bookme.example',
  referer: 'https://ui.bookme.example/meetings',
  'sec-ch-ua': '"Chromium";v="156", "Not?A_Brand";v="24"',
  'sec-ch-ua-mobile': '?0',
  'sec-ch-ua-platform': '"Windows"',
  'sec-fetch-dest': 'empty',
  'sec-fetch-mode': 'cors',
  'sec-fetch-site': 'same-site',
  'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
}
/** The authentication context every bench token carries in `acrs`, and `everything-on`'s route asks for. */
const AUTH_CONTEXT = 'c1'

interface AuthFixture { issuer: LocalIssuer, tenants: string[], mappingsFile: string, requests: Request[] }
let fixture: Promise<AuthFixture> | undefined

/**
 * 50 tenants with one bank each, 1,000 distinct valid tokens across them (issue 7's load shape).
 * Every token satisfies the step-up of `everything-on` (an `acrs` claim), so every target gets
 * the same bytes whether it reads the claim or not.
 */
function authFixture (): Promise<AuthFixture> {
  fixture ??= (async () => {
    const issuer = await startLocalIssuer()
    const tenants = Array.from({ length: 50 }, () => randomUUID())
    const dir = mkdtempSync(join(tmpdir(), 'bookme-bench-map-'))
    const mappingsFile = join(dir, 'mappings.yaml')
    writeFileSync(mappingsFile, stringify({
      banks: tenants.map((_, i) => ({ id: String(1000 + i), name: `Bank ${i}` })),
      tenants: tenants.map((tenantId, i) => ({ tenantId, banks: [String(1000 + i)] }))
    }))
    const requests: Request[] = Array.from({ length: 1000 }, (_, i) => ({
      method: 'GET',
      path: '/api/data',
      headers: { ...(process.env.BENCH_BROWSER_HEADERS === '1' ? BROWSER_HEADERS : {}), authorization: `Bearer ${issuer.mint({ tenantId: tenants[i % 50]!, audience: CLIENT_ID, lifetimeSec: 7200, claims: { acrs: [AUTH_CONTEXT] } })}` }
    }))
    return { issuer, tenants, mappingsFile, requests }
  })()
  return fixture
}

let redis: Promise<string> | undefined

/** A throwaway redis-server on a free port, for the Redis-store target (killed with the harness). */
export function benchRedis (): Promise<string> {
  redis ??= (async () => {
    const port = 20000 + Math.floor(Math.random() * 20000)
    // Beside the origin and the load generator (CPU 1), not on the target's core: in production Redis is another machine.
    const args = ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
    const [command, ...rest] = HAS_TASKSET ? ['taskset', '-c', '1', ...args] : args
    const child = spawn(command!, rest, { stdio: 'ignore' })
    process.on('exit', () => child.kill('SIGKILL'))
    await new Promise((resolve) => setTimeout(resolve, 300))
    return `redis://127.0.0.1:${port}`
  })()
  return redis
}

let redisTls: Promise<{ url: string, caFile: string }> | undefined

/** The same on a TLS port, its certificate from a throwaway CA made with `openssl`. */
export function benchRedisTls (): Promise<{ url: string, caFile: string }> {
  redisTls ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bookme-bench-tls-'))
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    const run = (args: string[]): void => { spawnSync('openssl', args, { cwd: dir, stdio: 'ignore' }) }
    run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=bench CA'])
    run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'])
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n')
    run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext'])
    const port = 20000 + Math.floor(Math.random() * 20000)
    const child = spawn('redis-server', ['--port', '0', '--tls-port', String(port), '--tls-cert-file', join(dir, 'server.pem'), '--tls-key-file', join(dir, 'server.key'),
      '--tls-auth-clients', 'no', '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    process.on('exit', () => child.kill('SIGKILL'))
    await new Promise((resolve) => setTimeout(resolve, 300))
    return { url: `rediss://127.0.0.1:${port}`, caFile: join(dir, 'ca.pem') }
  })()
  return redisTls
}

/** An EC P-256 key file for the assertion target, made once per harness run. */
let assertionKeyFile: string | undefined
function benchAssertionKey (): string {
  if (assertionKeyFile === undefined) {
    assertionKeyFile = join(mkdtempSync(join(tmpdir(), 'bookme-bench-key-')), 'assertion.pem')
    writeFileSync(assertionKeyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }))
  }
  return assertionKeyFile
}

/** `route`: more members of the one route (e.g. `authContext: c1`). */
async function startAuthGateway (origin: string, extra: string[], topLevel: string[] = [], { build = thisBuild(), route = '' } = {}): Promise<Started> {
  const { issuer, mappingsFile, requests } = await authFixture()
  const started = await startGateway([
    'server: { host: 127.0.0.1, port: 0, adminPort: 0 }',
    `entra: { authority: "${issuer.url}"${extra.length ? ', ' + extra.join(', ') : ''} }`,
    `apis: { management: { clientId: ${CLIENT_ID} } }`,
    `mappings: { source: file, file: "${mappingsFile}" }`,
    ...topLevel,
    'routes:',
    `  - { name: api, prefix: /api, upstream: "${origin}", api: management, roles: [Employee]${route === '' ? '' : ', ' + route} }`
  ].join('\n'), build)
  await untilReady(started.url, requests[0]!.headers as Record<string, string>)
  return { ...started, requests }
}

/**
 * An authenticated route answers 503 `GATEWAY_NOT_READY` until the first JWKS fetch is done:
 * half a second natively, several under valgrind on a busy machine.
 */
async function untilReady (url: string, headers: Record<string, string>): Promise<void> {
  for (let tries = 0; tries < 300; tries++) {
    const response = await fetch(`${url}/api/data`, { headers })
    await response.arrayBuffer()
    if (response.status !== 503) return
    await delay(100)
  }
}

/** An OTLP/HTTP collector that accepts and drops every export, for the tracing target (one per harness run). */
let otlpSink: Promise<string> | undefined
function benchOtlpSink (): Promise<string> {
  otlpSink ??= new Promise((resolve) => {
    const server = createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }).end('{}') }) })
    server.listen(0, '127.0.0.1', () => { resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`) })
    server.unref()
  })
  return otlpSink
}

const RATE_LIMIT = 'rateLimits: { policies: [{ name: bench, key: bank, limit: 1000000000, windowSec: 60 }] }'
/** The signed identity assertion with the bench's key; `options` e.g. `ttlSec: 300, `. */
const assertion = (options = ''): string => `assertion: { ${options}keys: [{ kid: bench, privateKeyFile: "${benchAssertionKey()}" }] }`
/** OpenTelemetry at the sampling the chart's production example uses (CONTRACT.md §14), exporting to a local sink. */
const tracing = async (sampleRatio = 0.1): Promise<string> => `tracing: { endpoint: "${await benchOtlpSink()}", sampleRatio: ${sampleRatio} }`

export const TARGETS: Record<string, (origin: string) => Promise<Started>> = {
  // Every target gets the same request stream (1,000 tokens across 50 tenants): the open ones
  // just forward the header, so all send identical bytes through autocannon's same code path.
  bare: async (origin) => ({ ...await spawnServer(['--import', 'tsx', 'bench/bare-proxy.ts'], { UPSTREAM: origin }, 0), requests: (await authFixture()).requests }),
  'gateway-open': async (origin) => await startOpenGateway(origin),
  'baseline-open': async (origin) => await startOpenGateway(origin, baselineBuild()),
  'baseline-auth': async (origin) => await startAuthGateway(origin, [], [], { build: baselineBuild() }),
  'baseline-auth-nocache': async (origin) => await startAuthGateway(origin, ['tokenCache: { maxEntries: 0 }'], [], { build: baselineBuild() }),
  'gateway-auth': async (origin) => await startAuthGateway(origin, []),
  'gateway-auth-assertion': async (origin) => await startAuthGateway(origin, [], [assertion()]),
  // Under callgrind a run outlasts the default 60 s lifetime, so every token is signed again within it: the longest lifetime shows the warm path alone.
  'gateway-auth-assertion-ttl300': async (origin) => await startAuthGateway(origin, [], [assertion('ttlSec: 300, ')]),
  'gateway-auth-nocache': async (origin) => await startAuthGateway(origin, ['tokenCache: { maxEntries: 0 }']),
  'gateway-auth-redis': async (origin) => await startAuthGateway(origin, [], [`cache: { store: redis, redis: { url: "${await benchRedis()}" } }`]),
  'gateway-auth-redis-tls': async (origin) => {
    const { url, caFile } = await benchRedisTls()
    return await startAuthGateway(origin, [], [`cache: { store: redis, redis: { url: "${url}", tls: { caFile: "${caFile}" } } }`])
  },
  // The process layer off: every request asks Redis, so what a Redis round trip (and TLS on it) costs shows.
  'gateway-auth-redis-local0': async (origin) => await startAuthGateway(origin, [], [`cache: { store: redis, localTtlSec: 0, redis: { url: "${await benchRedis()}" } }`]),
  'gateway-auth-redis-tls-local0': async (origin) => {
    const { url, caFile } = await benchRedisTls()
    return await startAuthGateway(origin, [], [`cache: { store: redis, localTtlSec: 0, redis: { url: "${url}", tls: { caFile: "${caFile}" } } }`])
  },
  // A rate-limit policy on every request (CONTRACT.md §12), so high that nothing is refused: what counting costs.
  'gateway-auth-redis-ratelimit': async (origin) => await startAuthGateway(origin, [], [`cache: { store: redis, redis: { url: "${await benchRedis()}" } }`, RATE_LIMIT]),
  // The same, each pod counting from its own view and reconciling with Redis every 100 ms (rateLimits.syncMs).
  'gateway-auth-redis-ratelimit-sync': async (origin) => await startAuthGateway(origin, [], [`cache: { store: redis, redis: { url: "${await benchRedis()}" } }`, RATE_LIMIT.replace(' }] }', ' }], syncMs: 100 }')]),
  'gateway-auth-ratelimit': async (origin) => await startAuthGateway(origin, [], [RATE_LIMIT]),
  'gateway-auth-tracing': async (origin) => await startAuthGateway(origin, [], [await tracing()]),
  // Every request sampled: what the sampled path alone costs (profiles, instruction counts).
  'gateway-auth-tracing-all': async (origin) => await startAuthGateway(origin, [], [await tracing(1)]),
  'gateway-auth-tracing-none': async (origin) => await startAuthGateway(origin, [], [await tracing(0)]),
  'everything-on': async (origin) => await startEverythingOn(origin),
  // The same with each pod counting from its own view, reconciled with Redis every 100 ms (rateLimits.syncMs).
  'everything-on-sync': async (origin) => await startEverythingOn(origin, thisBuild(), '', ', syncMs: 100'),
  // For callgrind, whose run outlasts the assertion's default lifetime (see gateway-auth-assertion-ttl300); `baseline-` for an A/B of two builds.
  'everything-on-ttl300': async (origin) => await startEverythingOn(origin, thisBuild(), 'ttlSec: 300, '),
  'baseline-everything-on-ttl300': async (origin) => await startEverythingOn(origin, baselineBuild(), 'ttlSec: 300, '),
  'peer-fastify-jwt': async (origin) => await startPeer('bench/peers/fastify-jwt.ts', origin),
  // Its token cache off: every request verified, as gateway-auth-nocache.
  'peer-fastify-jwt-nocache': async (origin) => await startPeer('bench/peers/fastify-jwt.ts', origin, { PEER_TOKEN_CACHE: 'off' }),
  'peer-express': async (origin) => await startPeer('bench/peers/express.ts', origin),
  'haproxy-jwt': async (origin) => await startHaproxyJwt(origin)
}

async function startOpenGateway (origin: string, build = thisBuild()): Promise<Started> {
  return {
    ...await startGateway([
      'server: { host: 127.0.0.1, port: 0, adminPort: 0 }',
      'routes:',
      `  - { name: api, prefix: /api, upstream: "${origin}", auth: none }`
    ].join('\n'), build),
    requests: (await authFixture()).requests
  }
}

/** A peer program with the same fixture (issuer, mappings, tokens) as the gateway targets. */
async function startPeer (program: string, origin: string, env: Record<string, string> = {}): Promise<Started> {
  const { issuer, mappingsFile, requests } = await authFixture()
  const started = await spawnServer(['--import', 'tsx', program], { UPSTREAM: origin, AUTHORITY: issuer.url, CLIENT_ID, MAPPINGS_FILE: mappingsFile, ...env }, 0)
  return { ...started, requests }
}

/**
 * Everything a production route may turn on at once: the Redis store with a block in force
 * (an unrelated tenant, set with the gateway's own `block` command, so the block list the token
 * check consults is not empty and the watcher reads it), a rate-limit policy that never
 * refuses, the signed assertion, the decision log (on by default), tracing at 0.1 and a step-up
 * route (`authContext`). Its own key prefix keeps the block away from the other Redis targets.
 */
async function startEverythingOn (origin: string, build = thisBuild(), assertionOptions = '', rateLimitOptions = ''): Promise<Started> {
  const cache = `cache: { store: redis, redis: { url: "${await benchRedis()}", keyPrefix: "bookme:bench-everything-on:" } }`
  const cacheFile = join(mkdtempSync(join(tmpdir(), 'bookme-bench-')), 'cache.yaml')
  writeFileSync(cacheFile, cache)
  const block = spawnSync(process.execPath, [join(build.dist, 'cli.js'), 'block', '--config', cacheFile, '--tenant', randomUUID(), '--for', '1d', '--reason', 'bench', '--by', 'bench'], { cwd: ROOT, encoding: 'utf8' })
  if (block.status !== 0) throw new Error(`block --tenant exited with ${block.status}: ${block.stderr}`)
  const rateLimits = RATE_LIMIT.replace(' }] }', ` }]${rateLimitOptions} }`)
  return await startAuthGateway(origin, [], [cache, rateLimits, assertion(assertionOptions), await tracing()], { build, route: `authContext: ${AUTH_CONTEXT}` })
}

/** A target that cannot run on this machine (its program missing or refusing to start): the harness says why and goes on without it. */
export class TargetUnavailable extends Error {}

const HAPROXY = '/usr/sbin/haproxy'

/** HAProxy's JWT checks (bench/peers/haproxy-jwt.ts), with the issuer's key and the issuer allowlist written at start. */
async function startHaproxyJwt (origin: string): Promise<Started> {
  const version = spawnSync(HAPROXY, ['-v'], { encoding: 'utf8' })
  if (version.error !== undefined) throw new TargetUnavailable(`${HAPROXY} is not there (Debian package haproxy, 2.5 or later): ${version.error.message}`)
  const { issuer, tenants, requests } = await authFixture()
  const dir = mkdtempSync(join(tmpdir(), 'bookme-bench-haproxy-'))
  const publicKeyFile = join(dir, 'issuer.pem')
  writeFileSync(publicKeyFile, issuer.keys[0]!.publicKey.export({ type: 'spki', format: 'pem' }))
  const issuersFile = join(dir, 'issuers.txt')
  writeFileSync(issuersFile, tenants.map((tenantId) => `${issuer.url}/${tenantId}/v2.0\n`).join(''))
  const port = await freePort()
  const configFile = join(dir, 'haproxy.cfg')
  writeFileSync(configFile, haproxyJwtConfig({ port, upstream: origin, audience: CLIENT_ID, publicKeyFile, issuersFile }))
  const check = spawnSync(HAPROXY, ['-c', '-q', '-f', configFile], { encoding: 'utf8' })
  if (check.status !== 0) throw new TargetUnavailable(`${version.stdout.split('\n')[0]} refuses the config: ${check.stderr.trim()}`)
  const { child, logFile } = spawnPinned([...flagsFrom(process.env.BENCH_WRAPPER), HAPROXY, '-db', '-f', configFile], {}, 0)
  await waitForPort(port, child)
  return { port, pid: child.pid!, url: `http://127.0.0.1:${port}`, logFile, requests, stop: () => child.kill('SIGKILL') }
}

/** A port free now (HAProxy binds no port 0 it could report back). */
async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  return port
}

/** Resolves once `port` accepts a connection; fails if `child` exits first. */
async function waitForPort (port: number, child: ChildProcess): Promise<void> {
  while (child.exitCode === null && child.signalCode === null) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (accepted) return
    await delay(50)
  }
  throw new TargetUnavailable(`${child.spawnargs.join(' ')} exited with ${child.exitCode ?? child.signalCode} before listening`)
}
