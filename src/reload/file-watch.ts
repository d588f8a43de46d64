/**
 * Watches the folders of the files a reload reads, not the files: Kubernetes updates a
 * ConfigMap or Secret volume by writing a new timestamped folder and renaming `..data_tmp`
 * over the `..data` symlink, so the file's own inode never changes and a watch on it would
 * see nothing. Any event in a folder, debounced, asks for one reload.
 */
import { watch, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'

export const DEFAULT_RELOAD_DEBOUNCE_MS = 200

export function watchFolders (files: readonly string[], onChange: () => void, debounceMs = DEFAULT_RELOAD_DEBOUNCE_MS): () => void {
  let timer: NodeJS.Timeout | undefined
  const changed = (): void => {
    clearTimeout(timer)
    timer = setTimeout(onChange, debounceMs)
    timer.unref()
  }
  const watchers: FSWatcher[] = []
  for (const folder of new Set(files.map((file) => dirname(file)))) {
    try {
      const watcher = watch(folder, { persistent: false }, changed)
      watcher.on('error', () => {})
      watchers.push(watcher)
    } catch { /* a folder that cannot be watched still reloads on SIGHUP */ }
  }
  return () => {
    clearTimeout(timer)
    for (const watcher of watchers) watcher.close()
  }
}
