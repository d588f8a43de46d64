import t from 'tap'
import { createInboundHeaderPolicy } from '../../src/http/inbound-headers.js'

const FORBIDDEN = ['x-bookme-bank-id', 'x_bookme_roles', 'x.bookme.user-id', 'x-bank-context', 'x_bank_context', 'x-forwarded-for', 'forwarded', 'x-original-url']
const KEPT = ['accept', 'authorization', 'x-request-id', 'x-bookmex', 'x-bank-contextual']

function inbound (): Record<string, string> {
  return Object.fromEntries([...FORBIDDEN, ...KEPT].map((name) => [name, 'v']))
}

t.test('the identity namespace, the bank selection and proxy-state headers go in every spelling; the rest stays', async (t) => {
  const policy = createInboundHeaderPolicy({ prefix: 'x-bookme-', bankSelection: 'X-Bank-Context' })
  // Twice: the second pass answers from the remembered verdicts and must agree with the first.
  for (const pass of ['first', 'remembered']) {
    const headers = { ...inbound(), 'x-bank-context': '1002' }
    t.equal(policy.strip(headers), '1002', `${pass}: the selection is read before it is removed`)
    t.same(Object.keys(headers).sort(), [...KEPT].sort(), `${pass}: only the allowed names are left`)
  }
})

t.test('a flood of invented names neither grows the memory without bound nor changes a verdict', async (t) => {
  const policy = createInboundHeaderPolicy({ prefix: 'x-bookme-', bankSelection: 'x-bank-context' })
  for (let i = 0; i < 5000; i++) policy.isForbidden(`x-invented-${i}`)
  const made = Array.from({ length: 5000 }, (_, i) => `x_bookme_made_up_${i}`)
  t.same(made.filter((name) => !policy.isForbidden(name)), [], 'every spoofed name is still refused past the memory bound')
  const headers = inbound()
  policy.strip(headers)
  t.same(Object.keys(headers).sort(), [...KEPT].sort())
})
