/**
 * A password kept in a file (CONTRACT.md §14 "Secrets from files"): `mappings.mysql.passwordFile`,
 * `cache.redis.passwordFile`, `cache.redis.sentinel.passwordFile`. Read at start — a missing,
 * unreadable or empty file is a configuration error naming the path — and again for every new
 * connection, so a rotated Secret volume (the kubelet's atomic `..data` swap) takes effect
 * without a restart. No message made here holds the secret: only the config key and the path.
 */
import { readFileSync } from 'node:fs'

/** The start-time read, as `path: message`; undefined when the file gives a password. */
export function secretFileProblem (at: string, path: string): string | undefined {
  try {
    return readSecret(path) === '' ? `${at}: ${path} is empty` : undefined
  } catch (err) {
    return `${at}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`
  }
}

/**
 * The file's password now, read synchronously: a connection reads it once, while it opens.
 * When the file cannot be read (mid-swap, removed), the last password read stands: the server
 * then decides, as it would with an inline password.
 */
export function liveSecret (path: string): () => string {
  let last = readSecret(path)
  return () => {
    try {
      const value = readSecret(path)
      if (value !== '') last = value
    } catch { /* keep the last password read */ }
    return last
  }
}

/** A trailing newline (`echo … > file`, `kubectl create secret --from-file`) is not part of it. */
function readSecret (path: string): string {
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '')
}
