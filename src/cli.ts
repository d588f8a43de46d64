#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ConfigError, loadConfigFile, resolveConfigPath } from './config/load.js'
import type { Config } from './config/schema.js'
import { UsageError } from './commands/usage.js'

/** argv → command. Exit codes (CONTRACT.md §9): 0 ok, 1 failed check/decision, 2 usage, 78 config. */
export const EXIT = { ok: 0, failed: 1, usage: 2, config: 78 } as const

const USAGE = `usage: bookme-gateway <command> [options]
  start [--config PATH]                  run the gateway
  check [--config PATH]                  validate config, reach discovery/JWKS, mapping source, cache
  explain --token JWT [--path P] [--method M] [--bank B] [--jwks FILE] [--config PATH]
                                         what the gateway would decide, as JSON; exit 0 allow, 1 deny
  demo                                   a complete local setup (issuer, echo upstream, file mappings)
  clients [--expiring-within 90d] [--config PATH]
                                         registered bank clients and their secret expiry
  cache purge --tenant GUID | --client GUID | --all [--config PATH]
                                         drop cached answers in every running gateway
`

const out = (line: string): void => { process.stdout.write(`${line}\n`) }

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'start': {
      const { values } = parse(rest, { config: { type: 'string' } })
      const config = loadConfig(values.config)
      const { exitOnSignals, startGateway } = await import('./server.js')
      exitOnSignals(await startGateway(config), config)
      return -1 // keep running
    }
    case 'check': {
      const { values } = parse(rest, { config: { type: 'string' } })
      const { runCheck } = await import('./commands/check.js')
      return await runCheck(() => loadConfig(values.config), out)
    }
    case 'explain': {
      const { values } = parse(rest, { config: { type: 'string' }, token: { type: 'string' }, path: { type: 'string' }, method: { type: 'string' }, bank: { type: 'string' }, jwks: { type: 'string' } })
      if (values.token === undefined) throw new UsageError('explain needs --token JWT')
      const { runExplain } = await import('./commands/explain.js')
      return await runExplain(loadConfig(values.config), { token: values.token, path: values.path ?? '/', method: values.method ?? 'GET', bank: values.bank, jwksFile: values.jwks }, out)
    }
    case 'demo': {
      parse(rest, {})
      const { runDemo } = await import('./commands/demo.js')
      await runDemo(out)
      return -1
    }
    case 'clients': {
      const { values } = parse(rest, { config: { type: 'string' }, 'expiring-within': { type: 'string' } })
      const { runClients, parseWindow } = await import('./commands/clients.js')
      const window = values['expiring-within'] === undefined ? undefined : parseWindow(values['expiring-within'])
      return await runClients(loadConfig(values.config), window, out)
    }
    case 'cache': {
      const [sub, ...args] = rest
      if (sub !== 'purge') throw new UsageError('cache needs the subcommand purge')
      const { values } = parse(args, { config: { type: 'string' }, tenant: { type: 'string' }, client: { type: 'string' }, all: { type: 'boolean' } })
      const { runCachePurge } = await import('./commands/cache-purge.js')
      return await runCachePurge(loadConfig(values.config), { tenant: values.tenant, client: values.client, all: values.all }, out)
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE)
      return command === undefined ? EXIT.usage : EXIT.ok
    default:
      throw new UsageError(`unknown command "${command}"`)
  }
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
    process.stderr.write(`error: ${err.message}\n${USAGE}`)
    process.exit(EXIT.usage)
  }
  process.stderr.write(`error: ${(err as Error).message}\n`)
  process.exit(EXIT.failed)
})
