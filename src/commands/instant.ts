/** The instants an operator types: `--issued-before TIME` (CONTRACT.md §15) and `explain --at`. */
import { UsageError } from './usage.js'

/**
 * ISO 8601 with a zone (`Z` or `±hh:mm`): a time without one would be read in the clock's
 * zone of whichever machine runs the command. Date and time in the extended format, seconds
 * and fractions optional.
 */
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/i

/** How far ahead of this machine's clock an instant may be: the clock skew between machines, no more. */
const MAX_AHEAD_MS = 5 * 60_000

/** `now`, or an ISO 8601 instant with a zone, → ms since the epoch; anything else is a usage error naming `flag`. */
export function parseInstant (flag: string, text: string, now: number = Date.now()): number {
  const trimmed = text.trim()
  if (trimmed.toLowerCase() === 'now') return now
  const ms = isoInstant(trimmed)
  if (ms === undefined) {
    throw new UsageError(`${flag}: "${text}" is not an ISO 8601 time with a zone (2026-12-06T09:30:00Z, 2026-12-06T10:30+01:00) nor "now"`)
  }
  if (ms > now + MAX_AHEAD_MS) throw new UsageError(`${flag}: "${text}" is in the future; it revokes tokens already issued (block without ${flag} refuses every token)`)
  return ms
}

/** An ISO 8601 instant with a zone → ms since the epoch; undefined for anything else, an impossible date included. */
export function isoInstant (text: string): number | undefined {
  const match = ISO_INSTANT.exec(text)
  const [, , month, day, hour, minute, second, zoneHour, zoneMinute] = (match ?? []).map(Number)
  const ms = Date.parse(text.replace(/\.(\d{3})\d+/, '.$1'))
  // Date.parse lets 2026-02-30 roll over into March: each field is checked besides.
  const inRange = match !== null && month! >= 1 && month! <= 12 && day! >= 1 && day! <= 31 && hour! <= 23 && minute! <= 59 &&
    (Number.isNaN(second) || second! <= 59) && (Number.isNaN(zoneHour) || (zoneHour! <= 23 && zoneMinute! <= 59))
  return !inRange || Number.isNaN(ms) || dayIn(text, ms) !== day ? undefined : ms
}

/** The day of the month at `ms` in the text's own zone: not the one it names when the date rolled over. */
function dayIn (text: string, ms: number): number {
  const zone = /([+-])(\d{2}):(\d{2})$/.exec(text)
  const offset = zone === null ? 0 : (zone[1] === '-' ? -1 : 1) * (Number(zone[2]) * 60 + Number(zone[3])) * 60_000
  return new Date(ms + offset).getUTCDate()
}
