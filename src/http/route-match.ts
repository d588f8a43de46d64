/**
 * The proxy port's routing (CONTRACT.md §1.2, §2): Fastify's router (find-my-way) with these
 * options, each route registered under `routePatterns`. Case-insensitive, because many
 * upstreams (ASP.NET among them) route case-insensitively: `/API/Admin` must meet
 * `/api/admin`'s policy, not a looser route's. Longest prefix wins; a prefix matches on segment
 * boundaries (`/api/admin` is not `/api/adminx`).
 */
import FindMyWay from 'find-my-way'
import { PROXIED_METHODS } from './methods.js'

export const ROUTER_OPTIONS = { caseSensitive: false, ignoreTrailingSlash: false, ignoreDuplicateSlashes: false } as const

/** The URL patterns a route prefix is registered under: the prefix itself and all below it. */
export function routePatterns (prefix: string): string[] {
  return prefix === '/' ? ['/', '/*'] : [prefix, `${prefix}/`, `${prefix}/*`]
}

/**
 * The same router, built over the same patterns, for `explain`: which route a method and a
 * normalized path reach. A test keeps it equal to the running gateway's routing.
 */
export function createRouteMatcher<R extends { prefix: string }> (routes: readonly R[]): (method: string, path: string) => R | undefined {
  const router = FindMyWay(ROUTER_OPTIONS)
  for (const route of routes) {
    for (const pattern of routePatterns(route.prefix)) router.on([...PROXIED_METHODS] as FindMyWay.HTTPMethod[], pattern, () => {}, route)
  }
  return function matchRoute (method, path) {
    return (router.find(method as FindMyWay.HTTPMethod, path)?.store as R | null | undefined) ?? undefined
  }
}
