#!/usr/bin/env node
// First, and alone: an older Node.js than package.json `engines` is refused before anything that
// could fail on it is loaded (CONTRACT.md §16). Everything else comes by dynamic import below.
import { refuseUnsupportedNode } from './commands/node-version.js'

refuseUnsupportedNode()

const { runCommandLine } = await import('./commands/command-line.js')

// Output piped into `head` that stops reading: end quietly, as Unix tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

const code = await runCommandLine(process.argv.slice(2), {
  stdout: (text) => { process.stdout.write(text) },
  stderr: (text) => { process.stderr.write(text) },
  env: process.env
})
if (code >= 0) {
  // Commands that opened pools or sockets must not linger once they have answered.
  process.exitCode = code
  setTimeout(() => process.exit(code), 50).unref()
}
