import { runCommandLine } from '../../src/commands/command-line.js'
import type { CliResult } from './cli.js'

/**
 * Runs `bookme-gateway …` in this process, through the CLI's own dispatcher (argv, config
 * loading, exit codes, stdout and stderr), without the half second a child process and its
 * TypeScript loader cost. For what is about the process itself (exit, signals, pipes, the Node
 * version check), spawn it with helpers/cli.ts instead.
 */
export async function runCommand (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const code = await runCommandLine(args, {
    stdout: (text) => { stdout += text },
    stderr: (text) => { stderr += text },
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }
  })
  return { code, stdout, stderr }
}
