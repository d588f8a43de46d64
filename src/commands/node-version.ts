/**
 * The CLI refuses a Node.js older than package.json `engines` (CONTRACT.md §16): on one it would
 * start and then misbehave quietly (Node 20 has no `shouldUpgradeCallback`, so WebSocket routes
 * would take every `Upgrade` request). cli.ts imports this module alone, before anything else
 * loads, so it must itself run on any Node that can load an ES module: no newer syntax or APIs.
 */
import { readFileSync } from 'node:fs'

const NODE_TOO_OLD_EXIT = 78

/** `>=22.21.0` → [22, 21, 0]; undefined for any other form of range (then nothing is refused). */
function minimumOf (range: string): number[] | undefined {
  const match = /^\s*>=\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$/.exec(range)
  return match === null ? undefined : [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)]
}

/** The one line to print when `running` (`process.versions.node`) is below `range`; undefined when it may run. */
export function tooOld (running: string, range: string): string | undefined {
  const minimum = minimumOf(range)
  if (minimum === undefined) return undefined
  const parts = running.split('.').map(Number)
  for (let i = 0; i < 3; i++) {
    const have = parts[i] ?? 0
    const need = minimum[i] ?? 0
    if (have > need) return undefined
    if (have < need) return `bookme-gateway needs Node.js ${range.trim()} (package.json engines); this is Node.js ${running}`
  }
  return undefined
}

export function refuseUnsupportedNode (): void {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines?: { node?: string } }
  const refusal = tooOld(process.versions.node, pkg.engines?.node ?? '')
  if (refusal === undefined) return
  process.stderr.write(`error: ${refusal}\n`)
  process.exit(NODE_TOO_OLD_EXIT)
}
