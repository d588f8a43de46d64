import t from 'tap'
import { execFileSync } from 'node:child_process'
import { spawnCli } from '../helpers/cli.js'

/** Every curl command the demo prints, run exactly as printed, answers as its comment says. */
t.test('demo: the printed curl commands work exactly as printed', async (t) => {
  const child = spawnCli(['demo'])
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not start:\n${child.output.stdout}\n${child.output.stderr}`)), 20_000)
    child.stdout!.on('data', () => { if (child.output.stdout.includes('demo ready')) { clearTimeout(timer); resolve() } })
    child.on('exit', (code) => reject(new Error(`demo exited ${code}: ${child.output.stderr}`)))
  })
  const lines = child.output.stdout.split('\n')
  const commands: Array<{ comment: string, command: string }> = []
  lines.forEach((line, i) => { if (line.startsWith('curl ')) commands.push({ comment: lines[i - 1] ?? '', command: line }) })
  t.ok(commands.length >= 8, 'prints the commands')
  for (const { comment, command } of commands) {
    const output = execFileSync('bash', ['-c', command], { encoding: 'utf8', timeout: 10_000 })
    const expected = /: (\d{3})(?: ([A-Z_]+))?/.exec(comment)
    if (command.includes('/readyz')) {
      t.match(JSON.parse(output), { ready: true }, comment)
      continue
    }
    t.ok(expected, `comment names the answer: ${comment}`)
    t.match(output, new RegExp(`^HTTP/1\\.1 ${expected![1]} `), comment)
    if (expected![2]) t.match(output, new RegExp(`"code":"${expected![2]}"`), `${comment}: code`)
  }
  const employee = execFileSync('bash', ['-c', commands[0]!.command], { encoding: 'utf8' })
  t.match(employee, /"x-bookme-bank-id": "1001"/, 'the echo shows the injected headers')
  t.notMatch(execFileSync('bash', ['-c', commands.find((c) => c.command.includes('/public/'))!.command], { encoding: 'utf8' }), /9999/, 'spoofed header stripped')
  child.kill('SIGTERM')
})

t.test('start never loads the demo issuer: no static import path from the CLI\'s start to src/demo', async (t) => {
  const { readFileSync } = await import('node:fs')
  const { dirname, resolve } = await import('node:path')
  const seen = new Set<string>()
  const visit = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    const text = readFileSync(file, 'utf8')
    for (const match of text.matchAll(/^import [^'"]*from '(\.[^']+)'/gm)) {
      visit(resolve(dirname(file), match[1]!.replace(/\.js$/, '.ts')))
    }
  }
  visit(new URL('../../src/cli.ts', import.meta.url).pathname)
  // cli.ts reaches the dispatcher by a dynamic import, after the Node version check.
  visit(new URL('../../src/commands/command-line.ts', import.meta.url).pathname)
  visit(new URL('../../src/server.ts', import.meta.url).pathname)
  t.ok(seen.size > 10, 'walked the module graph')
  t.same([...seen].filter((f) => f.includes('/src/demo/') || f.includes('/commands/demo')), [], 'demo modules are only reached through the dynamic import of `demo`')
})
