import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { tooOld } from '../../src/commands/node-version.js'

// CONTRACT.md §16: the CLI refuses a Node.js older than package.json `engines`, with one line
// and exit 78, before anything that could fail on it is loaded.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url))
const ENGINES = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } }).engines.node

t.test('the comparison: below the minimum is refused, at or above it is not', async (t) => {
  t.equal(tooOld('20.20.2', '>=22.21.0'), 'bookme-gateway needs Node.js >=22.21.0 (package.json engines); this is Node.js 20.20.2')
  t.ok(tooOld('22.20.9', '>=22.21.0'))
  t.ok(tooOld('22.9.0', '>=22.21.0'), 'numbers, not text: 9 < 21')
  for (const running of ['22.21.0', '22.21.1', '23.0.0', '24.22.3']) t.equal(tooOld(running, '>=22.21.0'), undefined, running)
  t.equal(tooOld('10.0.0', '^22 || ^24'), undefined, 'a range of another form refuses nothing')
})

/** The machine's own older Node, if it has one: Debian's /usr/bin/node, or NODE_OLD. */
const OLD_NODE = [process.env.NODE_OLD, '/usr/bin/node', '/usr/local/bin/node'].find((path): path is string => {
  if (path === undefined || !existsSync(path)) return false
  const version = spawnSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim()
  return version !== '' && tooOld(version, ENGINES) !== undefined
})

t.test('on an older Node the CLI says so in one line and exits 78, whatever the command', { skip: OLD_NODE === undefined ? `no Node.js older than ${ENGINES} on this machine (set NODE_OLD to one)` : false }, async (t) => {
  const running = spawnSync(OLD_NODE!, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim()
  for (const args of [['--version'], ['start', '--config', '/nonexistent.yaml'], ['demo'], ['frobnicate']]) {
    // tsx runs on Node 20, so src is what runs, exactly as dist/cli.js would.
    const res = spawnSync(OLD_NODE!, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH, HOME: process.env.HOME } })
    t.equal(res.status, 78, `${args.join(' ')}: exit 78`)
    t.equal(res.stdout, '', 'nothing else ran')
    t.equal(res.stderr, `error: bookme-gateway needs Node.js ${ENGINES} (package.json engines); this is Node.js ${running}\n`, 'one line naming both versions')
  }
})

t.test('cli.ts loads nothing before the check: its only static import is the check', async (t) => {
  const text = readFileSync(CLI, 'utf8')
  t.same([...text.matchAll(/^import .* from '([^']+)'/gm)].map((match) => match[1]), ['./commands/node-version.js'])
  t.ok(text.indexOf('refuseUnsupportedNode()') < text.indexOf('await import('), 'checked before the first dynamic import')
  const check = readFileSync(new URL('../../src/commands/node-version.ts', import.meta.url), 'utf8')
  t.same([...check.matchAll(/^import .* from '([^']+)'/gm)].map((match) => match[1]), ['node:fs'], 'the check imports only node:fs')
})
