/** argv → command. Exit codes (CONTRACT.md §9): 0 ok, 1 failed check/decision, 2 usage, 78 config. */
import { readFileSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ConfigError, loadConfigFile, resolveConfigPath } from '../config/load.js'
import type { Config } from '../config/schema.js'
import { UsageError } from './usage.js'
import { commandUsage, USAGE } from './help.js'

const EXIT = { ok: 0, failed: 1, usage: 2, config: 78 } as const

/** Where a command writes; the process's stdout and stderr in cli.ts, buffers in tests. */
export interface CommandIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  env: NodeJS.ProcessEnv
}

/**
 * Runs one command line to its exit code, every error turned into its code and message
 * (ConfigError → 78 with each problem, UsageError → 2); -1 for a command that keeps running
 * (`start`, `demo`). Exits nothing itself, so a test runs it in its own process.
 */
export async function runCommandLine (argv: string[], io: CommandIo): Promise<number> {
  try {
    return await dispatch(argv, io)
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr(err.problems.map((p) => `${p}\n`).join(''))
      return EXIT.config
    }
    if (err instanceof UsageError) {
      io.stderr(`error: ${err.message}\nrun "bookme-gateway --help" for the commands and their options\n`)
      return EXIT.usage
    }
    io.stderr(`error: ${(err as Error).message}\n`)
    return EXIT.failed
  }
}

async function dispatch (argv: string[], io: CommandIo): Promise<number> {
  const out = (line: string): void => { io.stdout(`${line}\n`) }
  const usage = (text: string, code: number): number => {
    io.stdout(text)
    return code
  }
  const helpFor = (command: string): number => {
    if (command === '') return usage(USAGE, EXIT.ok)
    const text = commandUsage(command)
    if (text === undefined) throw new UsageError(`unknown command "${command}"`)
    return usage(text, EXIT.ok)
  }
  const loadConfig = (flag: string | undefined): Readonly<Config> => loadConfigFile(resolveConfigPath(flag, io.env), io.env)
  const loadCache = async (flag: string | undefined) => {
    const { loadCacheConfig } = await import('./cache-config.js')
    return loadCacheConfig(resolveConfigPath(flag, io.env), io.env)
  }

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
      const { exitOnSignals, startGateway } = await import('../server.js')
      exitOnSignals(await startGateway(config, { configPath: resolveConfigPath(values.config, io.env), env: io.env }), config)
      return -1 // keep running
    }
    case 'check': {
      const { values } = parse(args, { config: { type: 'string' }, offline: { type: 'boolean' } })
      if (values.offline === true) {
        // Offline, a bad config or mappings file is a configuration error (78), as for `start`.
        const { runOfflineCheck } = await import('./check-offline.js')
        return runOfflineCheck(loadConfig(values.config), out)
      }
      const { runCheck } = await import('./check.js')
      return await runCheck(() => loadConfig(values.config), out)
    }
    case 'lookup': {
      const { values } = parse(args, { config: { type: 'string' }, tenant: { type: 'string' }, client: { type: 'string' }, json: { type: 'boolean' } })
      const { runLookup, lookupTargetOf } = await import('./lookup.js')
      const target = lookupTargetOf(values)
      return await runLookup(loadConfig(values.config), target, { json: values.json === true }, out)
    }
    case 'explain': {
      const { values } = parse(args, { config: { type: 'string' }, token: { type: 'string' }, path: { type: 'string' }, method: { type: 'string' }, bank: { type: 'string' }, jwks: { type: 'string' }, at: { type: 'string' }, 'client-cert': { type: 'string' } })
      if (values.token === undefined) throw new UsageError('explain needs --token JWT')
      const { runExplain, readJwksFile, parseInstant, readClientCertificateFile } = await import('./explain.js')
      // Usage errors before the config is read: they name the flag to fix.
      const jwks = values.jwks === undefined ? undefined : readJwksFile(values.jwks)
      const at = values.at === undefined ? undefined : parseInstant(values.at)
      const clientCertificate = values['client-cert'] === undefined ? undefined : readClientCertificateFile(values['client-cert'])
      return await runExplain(loadConfig(values.config), { token: values.token, path: values.path, method: values.method ?? 'GET', bank: values.bank, jwks, at, clientCertificate }, out)
    }
    case 'demo': {
      parse(args, {})
      const { runDemo } = await import('./demo.js')
      await runDemo(out)
      return -1
    }
    case 'clients': {
      const { values } = parse(args, { config: { type: 'string' }, 'expiring-within': { type: 'string' }, json: { type: 'boolean' } })
      const { runClients, parseWindow } = await import('./clients.js')
      const window = values['expiring-within'] === undefined ? undefined : parseWindow(values['expiring-within'])
      return await runClients(loadConfig(values.config), { windowMs: window, json: values.json === true }, out)
    }
    // The four commands of an incident read only `cache.*` (CONTRACT.md §13).
    case 'cache purge': {
      const { values } = parse(args, { config: { type: 'string' }, tenant: { type: 'string' }, client: { type: 'string' }, all: { type: 'boolean' }, reason: { type: 'string' }, by: { type: 'string' } })
      const { runCachePurge, purgeKeyOf } = await import('./cache-purge.js')
      const { reasonOf, byOf } = await import('./blocks.js')
      purgeKeyOf(values)
      const audit = { by: byOf(values.by, io.env), reason: reasonOf(values.reason) }
      return await runCachePurge(await loadCache(values.config), values, audit, out)
    }
    case 'block': {
      const { values } = parse(args, { config: { type: 'string' }, tenant: { type: 'string' }, client: { type: 'string' }, user: { type: 'string' }, for: { type: 'string' }, reason: { type: 'string' }, by: { type: 'string' }, 'issued-before': { type: 'string' } })
      const { runBlock, blockRequestOf } = await import('./blocks.js')
      const request = blockRequestOf(values, io.env)
      return await runBlock(await loadCache(values.config), request, out)
    }
    case 'unblock': {
      const { values } = parse(args, { config: { type: 'string' }, tenant: { type: 'string' }, client: { type: 'string' }, user: { type: 'string' }, reason: { type: 'string' }, by: { type: 'string' } })
      const { runUnblock, unblockRequestOf } = await import('./blocks.js')
      const request = unblockRequestOf(values, io.env)
      return await runUnblock(await loadCache(values.config), request, out)
    }
    case 'blocks': {
      const { values } = parse(args, { config: { type: 'string' }, json: { type: 'boolean' } })
      const { runBlocks } = await import('./blocks.js')
      return await runBlocks(await loadCache(values.config), { json: values.json === true }, out)
    }
    case 'cache':
      throw new UsageError('cache needs the subcommand purge')
    default:
      throw new UsageError(`unknown command "${command}"`)
  }
}

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return `bookme-gateway ${pkg.version}`
}

function parse<const O extends NonNullable<ParseArgsConfig['options']>> (args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true as const, allowPositionals: false as const })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}
