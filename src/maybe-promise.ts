/**
 * A value now, or a promise of it. Lookups that usually answer from memory return the value
 * itself, so a hit costs no promise and no microtask.
 */
export type MaybePromise<T> = T | Promise<T>

/** `then` for a MaybePromise: synchronous when the value is already there. */
export function thenMaybe<T, R> (value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return value instanceof Promise ? value.then(next) : next(value)
}
