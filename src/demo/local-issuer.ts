/**
 * A real HTTP issuer in Entra's shape (ENTRA.md §2.1): OpenID discovery for any tenant
 * (`common`, `organizations`, a GUID) under `/{tenant}/v2.0/.well-known/openid-configuration`,
 * and the v2 keys document with per-key `issuer` and `cloud_instance_name`. It mints v1/v2
 * user and app tokens. With `?appid={clientId}` on the discovery URL it answers as Entra does for
 * an app with its own signing key (a claims-mapping policy, ENTRA.md §2.1): a `jwks_uri` with
 * the same query, whose keys are that app's alone — the tenant keys are not among them. Used by the tests and by `bookme-gateway demo`; `start` never loads it.
 */
import { createHash, createHmac, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface IssuerKey {
  kid: string
  privateKey: KeyObject
  publicKey: KeyObject
  /** Served as the JWK's `issuer`; `{authority}` is replaced by the issuer's base URL. */
  issuer?: string | null
  cloudInstanceName?: string | null
}

export interface MintOptions {
  version?: 1 | 2
  tenantId?: string
  audience?: string | string[]
  type?: 'user' | 'app'
  /** Claims to add or override (set a claim to `undefined` to drop it). */
  claims?: Record<string, unknown>
  /** Header members to add or override (`undefined` drops). */
  header?: Record<string, unknown>
  /** Sign with this key (default: the first published key). */
  key?: IssuerKey
  lifetimeSec?: number
}

export interface LocalIssuer {
  url: string
  /** Requests served, by path. */
  hits: Map<string, number>
  keys: IssuerKey[]
  /** While true every request is answered 503. */
  down: boolean
  /** When set, answers `POST /{tenant}/oauth2/v2.0/token` (a test's client-credentials endpoint). */
  tokenEndpoint: ((request: IncomingMessage, response: ServerResponse, tenant: string) => void) | undefined
  /** A fresh RS256 key; published unless `publish` is false. */
  addKey (options?: { publish?: boolean, issuer?: string | null, cloudInstanceName?: string | null }): IssuerKey
  /** The signing key of app `appId` (made on first use), served only at `…/keys?appid={appId}`. */
  appKey (appId: string): IssuerKey
  removeKey (kid: string): void
  mint (options?: MintOptions): string
  /** Signs an arbitrary header and payload (attack tests); `alg` decides the algorithm. */
  signRaw (header: Record<string, unknown>, payload: unknown, options?: { key?: IssuerKey, hmacSecret?: string | Buffer }): string
  jwksFetches (): number
  close (): Promise<void>
}

const CLOUD_INSTANCE = 'microsoftonline.com'

function b64url (value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
}

export async function startLocalIssuer ({ host = '127.0.0.1', port = 0 }: { host?: string, port?: number } = {}): Promise<LocalIssuer> {
  const hits = new Map<string, number>()
  const keys: IssuerKey[] = []
  const appKeys = new Map<string, IssuerKey>()
  let url = ''

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    const appId = new URL(req.url ?? '/', 'http://issuer').searchParams.get('appid')
    const appQuery = appId === null ? '' : `?appid=${encodeURIComponent(appId)}`
    hits.set(path, (hits.get(path) ?? 0) + 1)
    if (issuer.down) {
      res.writeHead(503).end()
      return
    }
    const discovery = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path)
    if (discovery) {
      const tenant = discovery[1]!
      const issuerTenant = tenant === 'common' || tenant === 'organizations' ? '{tenantid}' : tenant
      return json(res, {
        issuer: `${url}/${issuerTenant}/v2.0`,
        jwks_uri: `${url}/${tenant}/discovery/v2.0/keys${appQuery}`,
        id_token_signing_alg_values_supported: ['RS256'],
        cloud_instance_name: CLOUD_INSTANCE,
        tenant_region_scope: 'EU'
      })
    }
    if (/^\/[^/]+\/discovery\/v2\.0\/keys$/.test(path)) {
      return json(res, { keys: (appId === null ? keys : [issuer.appKey(appId)]).map(publicJwk) })
    }
    const tokenRequest = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path)
    if (tokenRequest && req.method === 'POST' && issuer.tokenEndpoint !== undefined) {
      issuer.tokenEndpoint(req, res, decodeURIComponent(tokenRequest[1]!))
      return
    }
    res.writeHead(404).end()
  })

  function json (res: import('node:http').ServerResponse, body: unknown): void {
    const text = JSON.stringify(body)
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'max-age=86400, private' })
    res.end(text)
  }

  function publicJwk (key: IssuerKey): Record<string, unknown> {
    const jwk = key.publicKey.export({ format: 'jwk' })
    const issuer = key.issuer === undefined ? `${url}/{tenantid}/v2.0` : key.issuer
    const cloud = key.cloudInstanceName === undefined ? CLOUD_INSTANCE : key.cloudInstanceName
    return {
      kty: 'RSA',
      use: 'sig',
      kid: key.kid,
      x5t: key.kid,
      n: jwk.n,
      e: jwk.e,
      ...(issuer === null ? {} : { issuer }),
      ...(cloud === null ? {} : { cloud_instance_name: cloud })
    }
  }

  const issuer: LocalIssuer = {
    url: '',
    hits,
    keys,
    down: false,
    tokenEndpoint: undefined,
    addKey ({ publish = true, issuer: keyIssuer, cloudInstanceName } = {}) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      const kid = createHash('sha1').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url')
      const key: IssuerKey = { kid, privateKey, publicKey, ...(keyIssuer !== undefined ? { issuer: keyIssuer } : {}), ...(cloudInstanceName !== undefined ? { cloudInstanceName } : {}) }
      if (publish) keys.push(key)
      return key
    },
    appKey (appId) {
      const id = appId.toLowerCase()
      let key = appKeys.get(id)
      if (!key) {
        key = issuer.addKey({ publish: false })
        appKeys.set(id, key)
      }
      return key
    },
    removeKey (kid) {
      const i = keys.findIndex((k) => k.kid === kid)
      if (i !== -1) keys.splice(i, 1)
    },
    mint (options = {}) {
      const { version = 2, tenantId = randomUUID(), type = 'user', lifetimeSec = 3600 } = options
      const key = options.key ?? keys[0]
      if (!key) throw new Error('the issuer has no key')
      const now = Math.floor(Date.now() / 1000)
      const oid = randomUUID()
      const client = randomUUID()
      const base: Record<string, unknown> = {
        aud: options.audience ?? '00000000-0000-0000-0000-000000000001',
        iss: version === 2 ? `${url}/${tenantId}/v2.0` : `https://sts.windows.net/${tenantId}/`,
        iat: now,
        nbf: now,
        exp: now + lifetimeSec,
        tid: tenantId,
        oid,
        ver: version === 2 ? '2.0' : '1.0',
        uti: randomUUID().replace(/-/g, ''),
        ...(version === 2 ? { azp: client, azpacr: type === 'app' ? '1' : '0' } : { appid: client, appidacr: type === 'app' ? '1' : '0' }),
        ...(type === 'app'
          ? { sub: oid, idtyp: 'app', roles: ['System'] }
          : { sub: randomUUID(), scp: 'access_as_user', roles: ['Employee'], name: 'Demo User', ...(version === 2 ? { preferred_username: 'user@bank.example' } : { upn: 'user@bank.example', unique_name: 'user@bank.example' }) })
      }
      const payload: Record<string, unknown> = { ...base, ...options.claims }
      for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name]
      const header: Record<string, unknown> = { typ: 'JWT', alg: 'RS256', kid: key.kid, ...(version === 1 ? { x5t: key.kid } : {}), ...options.header }
      for (const name of Object.keys(header)) if (header[name] === undefined) delete header[name]
      return issuer.signRaw(header, payload, { key })
    },
    signRaw (header, payload, { key = keys[0], hmacSecret } = {}) {
      const input = `${b64url(header)}.${b64url(payload)}`
      if (header.alg === 'none') return `${input}.`
      if (typeof header.alg === 'string' && header.alg.startsWith('HS')) {
        if (hmacSecret === undefined) throw new Error('HS* needs hmacSecret')
        return `${input}.${createHmac(`sha${header.alg.slice(2)}`, hmacSecret).update(input).digest('base64url')}`
      }
      if (!key) throw new Error('the issuer has no key')
      return `${input}.${sign('RSA-SHA256', Buffer.from(input), key.privateKey).toString('base64url')}`
    },
    jwksFetches () {
      let n = 0
      for (const [path, count] of hits) if (path.endsWith('/discovery/v2.0/keys')) n += count
      return n
    },
    close () {
      return new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
    }
  }

  await new Promise<void>((resolve) => server.listen(port, host, resolve))
  url = `http://${host}:${(server.address() as AddressInfo).port}`
  issuer.url = url
  issuer.addKey()
  return issuer
}
