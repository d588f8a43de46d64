import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

// One Node everywhere: the image runs the current LTS (24), CI tests it and the engines floor,
// and the floor is what package.json promises. Node 20 reached end of life in April 2026.
const read = (path: string): string => readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8')

t.test('engines, the image and CI agree on the Node versions', async (t) => {
  const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node
  const floor = /^>=(\d+\.\d+\.\d+)$/.exec(engines)?.[1]
  t.ok(floor !== undefined && Number(floor.split('.')[0]) >= 22, `engines is a floor at Node 22 or later (${engines})`)
  const ci = read('.ci/run')
  t.equal(/^NODE_FLOOR=(\S+)$/m.exec(ci)?.[1], floor, 'CI runs the suite on the engines floor itself')
  t.match(/^NODE_LTS=(\S+)$/m.exec(ci)?.[1], /^24\./, 'and on Node 24')
  const dockerfile = read('Dockerfile')
  const bases = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!)
  t.ok(bases.length >= 2 && bases.every((base) => /node:24-|nodejs24-/.test(base)), `every image stage is Node 24 (${bases.join(', ')})`)
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number]
  const [floorMajor, floorMinor] = floor!.split('.').map(Number) as [number, number]
  t.ok(major > floorMajor || (major === floorMajor && minor >= floorMinor), `this suite runs on a supported Node (${process.versions.node})`)
})
