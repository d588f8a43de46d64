import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface CliResult { code: number | null, stdout: string, stderr: string }

/** Runs `bookme-gateway …` as a real child process (through tsx, so src is what runs). */
export function spawnCli (args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess & { output: { stdout: string, stderr: string } } {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  }) as ChildProcess & { output: { stdout: string, stderr: string } }
  child.output = { stdout: '', stderr: '' }
  child.stdout!.on('data', (chunk: Buffer) => { child.output.stdout += chunk.toString() })
  child.stderr!.on('data', (chunk: Buffer) => { child.output.stderr += chunk.toString() })
  return child
}

export async function runCli (args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<CliResult> {
  const child = spawnCli(args, env)
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, ...child.output }
}

/** Starts `start`, waits for its "gateway listening" line and kills it at teardown. */
export async function startCliGateway (t: Test, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ReturnType<typeof spawnCli>, proxyUrl: string, adminUrl: string }> {
  const child = spawnCli(args, env)
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const urls = await new Promise<{ proxyUrl: string, adminUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${child.output.stdout}\n${child.output.stderr}`)), 20_000)
    child.stdout!.on('data', () => {
      for (const line of child.output.stdout.split('\n')) {
        if (!line.includes('gateway listening')) continue
        clearTimeout(timer)
        resolve(JSON.parse(line) as { proxyUrl: string, adminUrl: string })
        return
      }
    })
    child.on('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${child.output.stderr}`)))
  })
  return { child, ...urls }
}

export function exited (child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)))
}
