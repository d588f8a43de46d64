/**
 * Readiness as CONTRACT.md §8 and §10 define it: not ready until every dependency has answered
 * once and no backend has refused the gateway's configuration (credentials, ACL, TLS); then
 * ready until draining starts. A later outage shows in the body, not in the status — taking
 * every pod out of the Service would turn a partial outage into a total one.
 */
import { GatewayError } from '../errors.js'

export type DependencyState = 'pending' | 'up' | 'down'

/**
 * What readiness waits for: `answer` — up at least once; `verdict` — probed at least once and
 * not refusing the configuration (a backend that is merely down leaves readiness to the others).
 */
export type Awaits = 'answer' | 'verdict'

export interface DependencyStatus {
  state: DependencyState
  /** Whether it has been up at least once. */
  answeredOnce: boolean
  /** Readiness waits for it (declared with `register`); others are shown, not waited for. */
  required: boolean
  /** Set when the last failure was the configuration's (wrong password, ACL, certificate). */
  misconfigured?: true
  detail?: string
  since: string
}

export interface Health {
  readonly draining: boolean
  startDraining (): void
  /** Declares a dependency that readiness must wait for. */
  register (name: string, awaits?: Awaits): void
  report (name: string, state: Exclude<DependencyState, 'pending'>, detail?: string, cause?: { misconfigured: boolean }): void
  isReady (): boolean
  /** Whether the gateway has been ready once (draining aside): before that, nothing is decided (§8). */
  wasReady (): boolean
  snapshot (): { ready: boolean, draining: boolean, dependencies: Record<string, DependencyStatus> }
  /**
   * A view for one part of the gateway (a backend's probe, a revision's key profiles): what it
   * registers is its own, and `release` removes it from readiness and the `/readyz` body — so a
   * backend or an API profile that a reload takes away leaves no stale entry — unless another
   * part holds the same name too (the active revision's, or the next one's). Reports after
   * `release` are ignored.
   */
  owned (): OwnedHealth
  /**
   * What a revision being built for a reload reports through: the views it owns hold their
   * registrations and reports until `activate`, so a reload refused after its parts were built
   * (a new Redis that does not answer) leaves `/readyz` as the active revision reports it.
   */
  staged (): HealthStage
}

export interface OwnedHealth extends Health {
  release (): void
}

export interface HealthStage {
  readonly health: Health
  /** The revision is taken: what its parts registered and reported so far applies, and from now on as it comes. */
  activate (): void
}

const PERMANENT = Object.freeze({})

export function createHealth (): Health {
  const dependencies = new Map<string, DependencyStatus>()
  const awaiting = new Map<string, Awaits>()
  // Name → every part that registered it (a revision being built and the active one may both
  // hold it); PERMANENT for a registration of no part's. An entry goes when its last owner does.
  const owners = new Map<string, Set<object>>()
  let draining = false
  // Once ready, a backend's later failure (of any kind) is an outage to ride out, not a reason to leave the Service.
  let readyOnce = false

  function isReady (): boolean {
    return !draining && wasReady()
  }

  function wasReady (): boolean {
    if (readyOnce) return true
    for (const [name, status] of dependencies) {
      const awaits = awaiting.get(name)
      if (awaits === 'answer' && !status.answeredOnce) return false
      if (awaits === 'verdict' && (status.state === 'pending' || status.misconfigured === true)) return false
    }
    readyOnce = true
    return true
  }

  function register (name: string, awaits: Awaits = 'answer', owner: object = PERMANENT): void {
    awaiting.set(name, awaits)
    let byOwner = owners.get(name)
    if (byOwner === undefined) owners.set(name, byOwner = new Set())
    byOwner.add(owner)
    if (!dependencies.has(name)) dependencies.set(name, { state: 'pending', answeredOnce: false, required: true, since: new Date().toISOString() })
  }

  const health: Health = {
    get draining () { return draining },
    startDraining () { draining = true },
    register (name, awaits) { register(name, awaits) },
    report (name, state, detail, cause) {
      const previous = dependencies.get(name)
      const answeredOnce = (previous?.answeredOnce ?? false) || state === 'up'
      const since = previous?.state === state ? previous.since : new Date().toISOString()
      dependencies.set(name, {
        state,
        answeredOnce,
        required: awaiting.has(name),
        since,
        ...(state === 'down' && cause?.misconfigured === true ? { misconfigured: true as const } : {}),
        ...(detail ? { detail } : {})
      })
    },
    isReady,
    wasReady,
    snapshot () {
      return { ready: isReady(), draining, dependencies: Object.fromEntries(dependencies) }
    },
    owned () {
      const owner = {}
      let released = false
      const view: OwnedHealth = {
        ...health,
        get draining () { return draining },
        register (name, awaits) { if (!released) register(name, awaits, owner) },
        report (name, state, detail, cause) { if (!released) health.report(name, state, detail, cause) },
        release () {
          released = true
          for (const [name, byOwner] of owners) {
            if (!byOwner.delete(owner) || byOwner.size > 0) continue
            owners.delete(name)
            awaiting.delete(name)
            dependencies.delete(name)
          }
        }
      }
      return view
    },
    staged () {
      let active = false
      const held: Array<() => void> = []
      // A view released before activation drops what it held: its ops are ignored once replayed.
      const hold = (op: () => void): void => { if (active) op(); else held.push(op) }
      // Every view handed out from here holds, the views it hands out in turn included. A held
      // report takes its `since` from its activation.
      const holding = <T extends Health>(view: T): T => ({
        ...view,
        get draining () { return draining },
        register (name: string, awaits?: Awaits) { hold(() => { view.register(name, awaits) }) },
        report (name: string, state: Exclude<DependencyState, 'pending'>, detail?: string, cause?: { misconfigured: boolean }) { hold(() => { view.report(name, state, detail, cause) }) },
        owned: () => holding(health.owned()),
        staged: () => stage
      })
      const stage: HealthStage = {
        health: holding(health),
        activate () {
          active = true
          for (const op of held.splice(0)) op()
        }
      }
      return stage
    }
  }
  return health
}

/**
 * Before the gateway is first ready nothing is decided (CONTRACT.md §8): without its signing
 * keys or its first read of the blocks, a decision would rest on a partial view (a blocked
 * principal let through, a valid token refused as signed by an unknown key).
 */
export function refuseUntilReady (health: Health): void {
  if (!health.wasReady()) throw new GatewayError('GATEWAY_NOT_READY', 'The gateway is starting and has not yet read its signing keys, mappings and blocks; retry shortly', { retryAfterSec: 1 })
}
