/** A wrong command line: the CLI prints it with the usage text and exits 2. */
export class UsageError extends Error {}

const EXAMPLE: Record<string, number> = { s: 90, m: 30, h: 12, d: 90, w: 2 }
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/**
 * `30m`, `12h`, `90d`, `2w` → milliseconds, for the option `flag`, with the units it takes. A bare
 * number is refused: minutes or days is a guess.
 */
export function parseDuration (flag: string, text: string, { units = 'mhdw', zero = false }: { units?: string, zero?: boolean } = {}): number {
  const match = /^(\d+)([a-z])$/.exec(text.trim())
  const unit = match?.[2]
  if (match === null || unit === undefined || !units.includes(unit) || (!zero && Number(match[1]) === 0)) {
    const names = [...units].join(', ').replace(/, (\w)$/, ' or $1')
    const examples = [...units].map((u) => `${EXAMPLE[u] ?? 1}${u}`).join(', ')
    throw new UsageError(`${flag} takes a number${zero ? '' : ' above 0'} with a unit (${names}), like ${examples}, not "${text}"`)
  }
  return Number(match[1]) * UNIT_MS[unit]!
}
