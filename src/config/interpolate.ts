/**
 * `${NAME}` in any string value is replaced by the environment variable NAME (CONTRACT.md §2).
 * An unset variable is a problem, never an empty string (unlike Platformatic's loader).
 */
const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

export function interpolateEnv (value: unknown, env: NodeJS.ProcessEnv, problems: string[], path = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (_match, name: string) => {
      const replacement = env[name]
      if (replacement === undefined) {
        problems.push(`${path || '(root)'}: environment variable ${name} is not set`)
        return ''
      }
      return replacement
    })
  }
  if (Array.isArray(value)) {
    return value.map((item, i) => interpolateEnv(item, env, problems, `${path}[${i}]`))
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      out[key] = interpolateEnv(item, env, problems, path ? `${path}.${key}` : key)
    }
    return out
  }
  return value
}
