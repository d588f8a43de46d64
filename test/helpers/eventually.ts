/**
 * Probes until `done` holds or `timeoutMs` passes, and returns the last value either way, so the
 * caller's assertion shows what was seen. Tests wait for a state with this instead of a fixed
 * sleep: on a loaded CI machine a background step may take far longer than on an idle one.
 */
export async function eventually<T> (probe: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (done(value) || Date.now() >= deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
