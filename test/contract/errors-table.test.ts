import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ERRORS } from '../../src/errors.js'

// The table in src/errors.ts must equal CONTRACT.md §7, code for code and status for status
// (the guard Fastify keeps in test/internals/errors.test.js). The shared contract is read when it
// sits beside the checkout; docs/CONTRACT.md is the copy kept in the repository.
const shared = fileURLToPath(new URL('../../../shared/CONTRACT.md', import.meta.url))
const vendored = fileURLToPath(new URL('../../docs/CONTRACT.md', import.meta.url))

function contractCodes (text: string): Map<string, number> {
  const section = text.slice(text.indexOf('## 7. Errors'), text.indexOf('## 8.'))
  const list = section.slice(section.indexOf('Codes:'), section.indexOf('A token is never'))
  // Later sections add theirs as "New codes for §7: …" paragraphs.
  const added = [...text.matchAll(/New codes for §7: ([^]*?)(?:\n\n|$)/g)].map((match) => match[1]!)
  const codes = new Map<string, number>()
  for (const group of [list, ...added].join(';').split(';')) {
    const status = Number(/\((\d{3})[):]/.exec(group)?.[1])
    for (const match of group.matchAll(/`([A-Z_]+)`/g)) codes.set(match[1]!, status)
  }
  return codes
}

t.test('the error table equals CONTRACT.md §7', async (t) => {
  const text = readFileSync(existsSync(shared) ? shared : vendored, 'utf8')
  const expected = contractCodes(text)
  t.ok(expected.size >= 25, 'the contract lists its codes')
  const actual = new Map(Object.entries(ERRORS).map(([code, { status }]) => [code, status]))
  t.same([...actual.entries()].sort(), [...expected.entries()].sort())
  for (const { title } of Object.values(ERRORS)) t.ok(title.length > 0)
})

t.test('the repository copy of the contract is the shared one', { skip: !existsSync(shared) && 'no shared/ beside this checkout' }, async (t) => {
  t.equal(readFileSync(vendored, 'utf8'), readFileSync(shared, 'utf8'))
})
