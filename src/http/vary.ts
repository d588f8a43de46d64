/**
 * A `Vary` value (RFC 9110 §12.5.5) that also names `field`, never in place of what it lists:
 * kept as it is when it names the field already (in any case) or is `*`, which varies on
 * everything; repeated field lines are folded into one list.
 */
export function varyWith (value: string | number | readonly string[] | undefined, field: string): string {
  if (value === undefined) return field
  const list = typeof value === 'object' ? value.join(', ') : String(value)
  const wanted = field.toLowerCase()
  for (const token of list.split(',')) {
    const name = token.trim().toLowerCase()
    if (name === '*' || name === wanted) return list
  }
  return list.trim() === '' ? field : `${list}, ${field}`
}
