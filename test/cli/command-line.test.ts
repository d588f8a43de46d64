import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { runCli } from '../helpers/cli.js'
import { runCommand } from '../helpers/command-line.js'
import { MGMT_CLIENT } from '../helpers/issuer.js'

// The command line itself: help, usage errors, exit codes. What a command decides is judged in
// its own file, in this process (helpers/command-line.ts); only what is about the process —
// its exit code and streams, a closed pipe — runs a child.

t.test('--help, -h, --version, help <command> and <command> --help', async (t) => {
  const version = (JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string }).version
  const versioned = await runCommand(['--version'])
  t.same([versioned.code, versioned.stdout], [0, `bookme-gateway ${version}\n`])
  for (const args of [['--help'], ['-h'], ['help']]) {
    const res = await runCommand(args)
    t.equal(res.code, 0, args.join(' '))
    for (const command of ['start', 'check', 'explain', 'demo', 'clients', 'cache purge', 'block', 'unblock', 'blocks']) t.match(res.stdout, new RegExp(`^  ${command}\\b`, 'm'), `${args.join(' ')} lists ${command}`)
  }
  t.equal((await runCommand([])).code, 2, 'no command: usage, exit 2')
  for (const args of [['help', 'explain'], ['explain', '--help'], ['explain', '-h', '--token', 'x']]) {
    const res = await runCommand(args)
    t.equal(res.code, 0, args.join(' '))
    t.match(res.stdout, /^usage: bookme-gateway explain --token JWT/, `${args.join(' ')}: the command's own usage`)
    t.match(res.stdout, /--at TIME/)
  }
  for (const [args, option] of [[['help', 'clients'], '--json'], [['cache', 'purge', '--help'], '--all'], [['help', 'cache', 'purge'], '--tenant'], [['check', '-h'], '--config'], [['block', '--help'], '--by TEXT']] as const) {
    const res = await runCommand([...args])
    t.equal(res.code, 0, args.join(' '))
    t.match(res.stdout, option, `${args.join(' ')} shows ${option}`)
  }
  const unknown = await runCommand(['help', 'nope'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown command "nope"/)
  t.equal((await runCommand(['cache'])).code, 2, 'cache without purge')
})

t.test('the process: exit code and streams of a success and of a usage error', async (t) => {
  const [ok, usage] = await Promise.all([runCli(['--version']), runCli(['frobnicate'])])
  t.same([ok.code, ok.stderr], [0, ''])
  t.match(ok.stdout, /^bookme-gateway \d+\.\d+\.\d+\n$/)
  t.same([usage.code, usage.stdout], [2, ''])
  t.equal(usage.stderr, 'error: unknown command "frobnicate"\nrun "bookme-gateway --help" for the commands and their options\n')
})

t.test('output piped into head ends quietly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bookme-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clients = Array.from({ length: 4000 }, (_, i) => ({ clientId: `aaaaaaaa-0000-4000-8000-${String(i).padStart(12, '0')}`, bankId: '1001', description: 'a client with a long enough description to fill the pipe' }))
  writeFileSync(join(dir, 'mappings.yaml'), stringify({ banks: [{ id: '1001', name: 'Demo' }], clients }))
  writeFileSync(join(dir, 'gateway.yaml'), stringify({ apis: { m: { clientId: MGMT_CLIENT } }, routes: [{ name: 'x', prefix: '/x', upstream: 'http://127.0.0.1:1', api: 'm' }], mappings: { source: 'file', file: 'mappings.yaml' } }))
  const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url))
  const res = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" --import tsx "${cli}" clients --config "${join(dir, 'gateway.yaml')}" | head -n 1`], { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) })
  t.equal(res.status, 0, 'exit 0 through the pipe')
  t.equal(res.stdout.split('\n').filter(Boolean).length, 1)
  t.equal(res.stderr, '', 'no EPIPE stack trace')
})
