#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ConfigError, loadConfigFile, resolveConfigPath } from './config/load.js'
import type { Config } from './config/schema.js'
import { UsageError } from './commands/usage.js'
import { commandUsage, USAGE } from './commands/help.js'

/** argv → command. Exit codes (CONTRACT.md §9): 0 ok, 1 failed check/decision, 2 usage, 78 config. */
export const EXIT = { ok: 0, failed: 1, usage: 2, config: 78 } as const

const out = (line: string): void => { process.stdout.write(`${line}\n`) }

async function main (argv: string[]): Promise<number> {
  const [first, ...rest] = argv
  if (first === undefined) return usage(USAGE, EXIT.usage)
  if (first === '--help' || first === '-h') return usage(USAGE, EXIT.ok)
  if (first === '--version') return usage(`${version()}\n`, EXIT.ok)
  if (first === 'help') return helpFor(rest.join(' '))
  const command = first === 'cache' && rest[0] === 'purge' ? 'cache purge' : first
  const args = command === 'cache purge' ? rest.slice(1) : rest
  if (args.includes('--help') || args.includes('-h')) return helpFor(command)

  switch (command) {
    case 'start': {
      const { values } = parse(args, { config: { type: 'string' } })
      const config = loadConfig(values.config)
      const { exitOnSignals, startGateway } = await import('./server.js')
      exitOnSignals(await startGateway(config), config)
      return -1 // keep running
    }
    case 'check': {
      const { values } = parse(args, { config: { type: 'string' } })
      const { runCheck } = await import('./commands/check.js')
      return await runCheck(() => loadConfig(values.config), out)
    }
    case 'explain': {
      const { values } = parse(args, { config: { type: 'string' }, token: { type: 'string' }, path: { type: 'string' }, method: { type: 'string' }, bank: { type: 'string' }, jwks: { type: 'string' }, at: { type: 'string' } })
      if (values.token === undefined) throw new UsageError('explain needs --token JWT')
      const { runExplain, readJwksFile, parseInstant } = await import('./commands/explain.js')
      // Usage errors before the config is read: they name the flag to fix.
      const jwks = values.jwks === undefined ? undefined : readJwksFile(values.jwks)
      const at = values.at === undefined ? undefined : parseInstant(values.at)
      return await runExplain(loadConfig(values.config), { token: values.token, path: values.path, method: values.method ?? 'GET', bank: values.bank, jwks, at }, out)
    }
    case 'demo': {
      parse(args, {})
      const { runDemo } = await import('./commands/demo.js')
      await runDemo(out)
      return -1
    }
    case 'clients': {
      const { values } = parse(args, { config: { type: 'string' }, 'expiring-within': { type: 'string' }, json: { type: 'boolean' } })
      const { runClients, parseWindow } = await import('./commands/clients.js')
      const window = values['expiring-within'] === undefined ? undefined : parseWindow(values['expiring-within'])
      return await runClients(loadConfig(values.config), { windowMs: window, json: values.json === true }, out)
    }
    case 'cache purge': {
      const { values } = parse(args, { config: { type: 'string' }, tenant: { type: 'string' }, client: { type: 'string' }, all: { type: 'boolean' } })
      const { runCachePurge } = await import('./commands/cache-purge.js')
      return await runCachePurge(loadConfig(values.config), { tenant: values.tenant, client: values.client, all: values.all }, out)
    }
    case 'block': {
      const { values } = parse(args, { config: { type: 'string' }, tenant: { type: 'string' }, client: { type: 'string' }, user: { type: 'string' }, for: { type: 'string' }, reason: { type: 'string' } })
      const { runBlock, blockTargetOf, reasonOf, BLOCK_UNITS } = await import('./commands/blocks.js')
      const { parseDuration } = await import('./commands/usage.js')
      // Usage errors before the config is read: they name the flag to fix.
      blockTargetOf('block', values)
      if (values.for !== undefined) parseDuration('--for', values.for, { units: BLOCK_UNITS })
      reasonOf(values.reason)
      return await runBlock(loadConfig(values.config), values, out)
    }
    case 'unblock': {
      const { values } = parse(args, { config: { type: 'string' }, tenant: { type: 'string' }, client: { type: 'string' }, user: { type: 'string' } })
      const { runUnblock, blockTargetOf } = await import('./commands/blocks.js')
      blockTargetOf('unblock', values)
      return await runUnblock(loadConfig(values.config), values, out)
    }
    case 'blocks': {
      const { values } = parse(args, { config: { type: 'string' }, json: { type: 'boolean' } })
      const { runBlocks } = await import('./commands/blocks.js')
      return await runBlocks(loadConfig(values.config), { json: values.json === true }, out)
    }
    case 'cache':
      throw new UsageError('cache needs the subcommand purge')
    default:
      throw new UsageError(`unknown command "${command}"`)
  }
}

function usage (text: string, code: number): number {
  process.stdout.write(text)
  return code
}

function helpFor (command: string): number {
  if (command === '') return usage(USAGE, EXIT.ok)
  const text = commandUsage(command)
  if (text === undefined) throw new UsageError(`unknown command "${command}"`)
  return usage(text, EXIT.ok)
}

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return `bookme-gateway ${pkg.version}`
}

function loadConfig (flag: string | undefined): Readonly<Config> {
  return loadConfigFile(resolveConfigPath(flag, process.env))
}

function parse<const O extends NonNullable<ParseArgsConfig['options']>> (args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true as const, allowPositionals: false as const })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

// Output piped into `head` that stops reading: end quietly, as Unix tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok)
  throw err
})

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) {
    // Commands that opened pools or sockets must not linger once they have answered.
    process.exitCode = code
    setTimeout(() => process.exit(code), 50).unref()
  }
}, (err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(err.problems.map((p) => `${p}\n`).join(''))
    process.exit(EXIT.config)
  }
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\nrun "bookme-gateway --help" for the commands and their options\n`)
    process.exit(EXIT.usage)
  }
  process.stderr.write(`error: ${(err as Error).message}\n`)
  process.exit(EXIT.failed)
})
