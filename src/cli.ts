#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ConfigError, loadConfigFile, resolveConfigPath } from './config/load.js'
import { exitOnSignals, startGateway } from './server.js'

/** argv → command. Exit codes (CONTRACT.md §9): 0 ok, 1 failed check/decision, 2 usage, 78 config. */
export const EXIT = { ok: 0, failed: 1, usage: 2, config: 78 } as const

const USAGE = `usage: bookme-gateway <command> [options]
  start [--config PATH]     run the gateway
`

class UsageError extends Error {}

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'start':
      return await runStart(rest)
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE)
      return command === undefined ? EXIT.usage : EXIT.ok
    default:
      throw new UsageError(`unknown command "${command}"`)
  }
}

async function runStart (args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' } })
  const config = loadConfigFile(resolveConfigPath(values.config as string | undefined, process.env))
  const gateway = await startGateway(config)
  exitOnSignals(gateway, config)
  return -1 // keep running
}

function parse (args: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exitCode = code
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
