/**
 * Longest-prefix route matching on segment boundaries, case-insensitive — the rule the Fastify
 * router applies to the proxy port (CONTRACT.md §2), as a plain function for `explain`.
 */
export function matchRoute<R extends { prefix: string }> (routes: readonly R[], normalizedPath: string): R | undefined {
  const path = normalizedPath.toLowerCase()
  let best: R | undefined
  for (const route of routes) {
    const prefix = route.prefix.toLowerCase()
    const matches = path === prefix || path.startsWith(prefix === '/' ? '/' : `${prefix}/`)
    if (matches && (best === undefined || prefix.length > best.prefix.length)) best = route
  }
  return best
}
