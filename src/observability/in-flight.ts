/** Counts requests between arrival and the close of their response, so shutdown can wait for them. */
export interface InFlight {
  readonly count: number
  enter (): void
  leave (): void
  /** Resolves when nothing is in flight, or false after `timeoutMs`. */
  idle (timeoutMs: number): Promise<boolean>
}

/** With `parent`, each request is counted there too: one app's requests within the process's. */
export function createInFlight (parent?: InFlight): InFlight {
  let count = 0
  let waiters: Array<() => void> = []

  return {
    get count () { return count },
    enter () {
      count++
      parent?.enter()
    },
    leave () {
      count--
      parent?.leave()
      if (count === 0) {
        const ready = waiters
        waiters = []
        for (const wake of ready) wake()
      }
    },
    idle (timeoutMs) {
      if (count === 0) return Promise.resolve(true)
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== wake)
          resolve(false)
        }, timeoutMs)
        const wake = (): void => {
          clearTimeout(timer)
          resolve(true)
        }
        waiters.push(wake)
      })
    }
  }
}
