/**
 * Readiness as CONTRACT.md §8 defines it: not ready until every dependency has answered once,
 * then ready until draining starts. A later outage shows in the body, not in the status —
 * taking every pod out of the Service would turn a partial outage into a total one.
 */
export type DependencyState = 'pending' | 'up' | 'down'

export interface DependencyStatus {
  state: DependencyState
  /** Whether it has been up at least once; readiness only needs that. */
  answeredOnce: boolean
  /** Readiness waits for it (declared with `register`); others are shown, not waited for. */
  required: boolean
  detail?: string
  since: string
}

export interface Health {
  readonly draining: boolean
  startDraining (): void
  /** Declares a dependency that readiness must wait for. */
  register (name: string): void
  report (name: string, state: Exclude<DependencyState, 'pending'>, detail?: string): void
  isReady (): boolean
  snapshot (): { ready: boolean, draining: boolean, dependencies: Record<string, DependencyStatus> }
}

export function createHealth (): Health {
  const dependencies = new Map<string, DependencyStatus>()
  let draining = false

  function isReady (): boolean {
    if (draining) return false
    for (const status of dependencies.values()) if (status.required && !status.answeredOnce) return false
    return true
  }

  return {
    get draining () { return draining },
    startDraining () { draining = true },
    register (name) {
      if (!dependencies.has(name)) dependencies.set(name, { state: 'pending', answeredOnce: false, required: true, since: new Date().toISOString() })
    },
    report (name, state, detail) {
      const previous = dependencies.get(name)
      const answeredOnce = (previous?.answeredOnce ?? false) || state === 'up'
      const since = previous?.state === state ? previous.since : new Date().toISOString()
      dependencies.set(name, { state, answeredOnce, required: previous?.required ?? false, since, ...(detail ? { detail } : {}) })
    },
    isReady,
    snapshot () {
      return { ready: isReady(), draining, dependencies: Object.fromEntries(dependencies) }
    }
  }
}
