// Which variable holds the heap: reads a V8 heap snapshot (from `bench/micro-memory.ts --snapshot FILE` or
// `v8.writeHeapSnapshot`), walks it breadth first from the root over strong edges, and gives every reachable object
// to the closure variable nearest the root on its path (`runtimes` in the rules engine's closure, `duplicates` in
// ingest's, ...). The engine's stages keep their state in closure variables, so the table reads as bytes per stage.
//   npx tsx bench/heap-owners.ts FILE [--top 40]
import { readFileSync } from 'node:fs'
import { arg } from './micro-support.js'

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; edge_fields: string[]; node_types: [string[]]; edge_types: [string[]] } }
  nodes: number[]
  edges: number[]
  strings: string[]
}

const file = process.argv[2]
if (file === undefined || file.startsWith('--')) {
  console.error('usage: heap-owners FILE [--top N]')
  process.exit(2)
}
const top = arg('top', 40)
const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
const { node_fields: nf, edge_fields: ef, node_types: nt, edge_types: et } = s.snapshot.meta
const N = nf.length
const E = ef.length
const { nodes, edges, strings } = s
const TYPE = nf.indexOf('type')
const NAME = nf.indexOf('name')
const SIZE = nf.indexOf('self_size')
const EDGES = nf.indexOf('edge_count')
const ETYPE = ef.indexOf('type')
const ENAME = ef.indexOf('name_or_index')
const ETO = ef.indexOf('to_node')
const nodeTypes = nt[0]
const edgeTypes = et[0]
const count = nodes.length / N

const firstEdge = new Uint32Array(count + 1)
for (let i = 0, e = 0; i < count; i++) {
  firstEdge[i] = e
  e += (nodes[i * N + EDGES] as number) * E
}
firstEdge[count] = edges.length

// Breadth-first spanning tree: each node's parent and the name of the edge that reached it.
const parent = new Int32Array(count).fill(-1)
const via: string[] = new Array(count)
parent[0] = 0
const queue = [0]
for (let h = 0; h < queue.length; h++) {
  const n = queue[h] as number
  for (let e = firstEdge[n] as number; e < (firstEdge[n + 1] as number); e += E) {
    const type = edgeTypes[edges[e + ETYPE] as number]
    if (type === 'weak' || type === 'shortcut') continue
    const to = (edges[e + ETO] as number) / N
    if (parent[to] !== -1) continue
    parent[to] = n
    via[to] = type === 'element' || type === 'hidden' ? '[]' : String(strings[edges[e + ENAME] as number])
    queue.push(to)
  }
}

const nameOf = (n: number): string => strings[nodes[n * N + NAME] as number] as string
const typeOf = (n: number): string => nodeTypes[nodes[n * N + TYPE] as number] as string
const owner: (string | undefined)[] = new Array(count)
const ownerOf = (n: number): string => {
  const known = owner[n]
  if (known !== undefined) return known
  let found = '(elsewhere)'
  let child = -1
  for (let c = n; c !== 0; child = c, c = parent[c] as number) {
    if (child >= 0 && typeOf(c) === 'object' && nameOf(c) === 'system / Context') {
      const fn = parent[c] as number
      found = `${via[child]} (in ${nameOf(fn) || 'an anonymous function'})`
    }
  }
  owner[n] = found
  return found
}

const bytes = new Map<string, number>()
let total = 0
for (let n = 0; n < count; n++) {
  if (parent[n] === -1) continue
  const size = nodes[n * N + SIZE] as number
  total += size
  const key = ownerOf(n)
  bytes.set(key, (bytes.get(key) ?? 0) + size)
}
console.log(`reachable: ${(total / 1e6).toFixed(1)} MB`)
for (const [key, b] of [...bytes].sort((a, b2) => b2[1] - a[1]).slice(0, top)) {
  console.log(`${(b / 1e6).toFixed(2).padStart(8)} MB  ${key}`)
}
