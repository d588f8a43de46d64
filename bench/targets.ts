import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Request } from 'autocannon'

/** A benchmarked process: its port, its pid (for CPU time), and optional per-request variation. */
export interface Started {
  port: number
  pid: number
  url: string
  requests?: Request[]
  stop (): void
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const HAS_TASKSET = spawnSync('taskset', ['-V']).status === 0

/** Spawn (pinned to `cpu` where possible) and wait for the `{"listening": port}` line. */
export async function spawnServer (args: string[], env: NodeJS.ProcessEnv, cpu: number, listenLine = /"listening":(\d+)|proxy port listening at http:\/\/[^:]+:(\d+)|"proxyUrl":"http:\/\/[^:]+:(\d+)"/): Promise<Started> {
  const [command, ...rest] = HAS_TASKSET ? ['taskset', '-c', String(cpu), process.execPath, ...args] : [process.execPath, ...args]
  const child: ChildProcess = spawn(command!, rest, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = ''
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString()
      const match = listenLine.exec(buffered)
      if (match) {
        child.stdout!.off('data', onData)
        child.stdout!.resume() // keep draining (the gateway logs a line per request)
        resolve(Number(match[1] ?? match[2] ?? match[3]))
      }
    }
    child.stdout!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)))
  })
  return { port, pid: child.pid!, url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') }
}

export async function startOrigin (): Promise<Started> {
  return await spawnServer(['--import', 'tsx', 'bench/origin.ts'], {}, 1)
}

/** Writes a gateway config for the bench and starts `node dist/cli.js start` on it. */
export async function startGateway (config: string): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-bench-'))
  writeFileSync(join(dir, 'gateway.yaml'), config)
  return await spawnServer(['dist/cli.js', 'start', '--config', join(dir, 'gateway.yaml')], {}, 0)
}

export const TARGETS: Record<string, (origin: string) => Promise<Started>> = {
  bare: async (origin) => await spawnServer(['--import', 'tsx', 'bench/bare-proxy.ts'], { UPSTREAM: origin }, 0),
  'gateway-open': async (origin) => await startGateway([
    'server: { host: 127.0.0.1, port: 0, adminPort: 0 }',
    'routes:',
    `  - { name: api, prefix: /api, upstream: "${origin}", auth: none }`
  ].join('\n'))
}
