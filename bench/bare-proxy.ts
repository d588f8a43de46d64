import Fastify from 'fastify'
import httpProxy from '@fastify/http-proxy'

/** The baseline: @fastify/http-proxy with defaults, no auth, logging off. */
const upstream = process.env.UPSTREAM ?? 'http://127.0.0.1:3000'
const app = Fastify({ logger: false })
await app.register(httpProxy, { upstream, prefix: '/api', rewritePrefix: '/api' })
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
process.stdout.write(JSON.stringify({ listening: Number(new URL(address).port) }) + '\n')
process.on('SIGTERM', () => process.exit(0)) // lets --cpu-prof write its profile
