import t from 'tap'
import { parseInstant } from '../../src/commands/instant.js'
import { UsageError } from '../../src/commands/usage.js'

// `block --issued-before TIME` (CONTRACT.md §15): ISO 8601 with a zone, or `now`.

const NOW = Date.parse('2026-12-06T12:00:00Z')

t.test('ISO 8601 with a zone, or now', async (t) => {
  t.equal(parseInstant('--issued-before', 'now', NOW), NOW)
  t.equal(parseInstant('--issued-before', '2026-12-06T09:30:00Z', NOW), Date.parse('2026-12-06T09:30:00Z'))
  t.equal(parseInstant('--issued-before', '2026-12-06T10:30+01:00', NOW), Date.parse('2026-12-06T09:30:00Z'))
  t.equal(parseInstant('--issued-before', '2026-12-06T04:30:00.250-05:00', NOW), Date.parse('2026-12-06T09:30:00.250Z'))
  t.equal(parseInstant('--issued-before', '2026-12-06T12:04:00Z', NOW), Date.parse('2026-12-06T12:04:00Z'), 'a few minutes ahead: clock skew')
})

t.test('anything else is a usage error naming the flag', async (t) => {
  for (const text of ['yesterday', '2026-12-06T09:30:00', '2026-12-06 09:30Z', '2026-02-30T00:00Z', '2026-12-06T24:00Z', '1733477400', '']) {
    t.throws(() => parseInstant('--issued-before', text, NOW), new UsageError(`--issued-before: "${text}" is not an ISO 8601 time with a zone (2026-12-06T09:30:00Z, 2026-12-06T10:30+01:00) nor "now"`), text)
  }
  t.throws(() => parseInstant('--issued-before', '2027-01-01T00:00Z', NOW), /--issued-before: .* is in the future/, 'a future instant would refuse every token: that is a block')
})
