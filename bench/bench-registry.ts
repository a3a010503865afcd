import type { Registry } from '../domain.js'
import { BUNDLED_REGISTRY } from '../config.js'
import { loadRegistry } from '../registry/load-registry.js'

/** District ids of a bench registry: `b001`, `b002`, ... */
export function benchDistrict(copy: number): string {
  return `b${String(copy + 1).padStart(3, '0')}`
}

/**
 * A registry of `copies` districts, each a copy of the bundled Xihu sample (405 sensors, 19 segments, 4 boards)
 * with every id suffixed by its district, so sensors, segments and boards stay unique and valid; 247 copies hold
 * 100,035 sensors. `districts` keeps only those copies (a publisher's share), same ids as the whole registry.
 */
export function benchRegistry(copies: number, districts?: ReadonlySet<string>): Registry {
  const sample = loadRegistry(BUNDLED_REGISTRY)
  const out: Registry = { segments: [], sensors: [], boards: [] }
  for (let c = 0; c < copies; c++) {
    const district = benchDistrict(c)
    if (districts !== undefined && !districts.has(district)) continue
    const id = (x: string): string => `${x}.${district}`
    for (const s of sample.segments) {
      out.segments.push({ ...s, id: id(s.id), district, ...(s.riverGauges !== undefined ? { riverGauges: s.riverGauges.map(id) } : {}) })
    }
    for (const s of sample.sensors) out.sensors.push({ ...s, id: id(s.id), district, segment: id(s.segment) })
    for (const b of sample.boards) out.boards.push({ ...b, id: id(b.id), district, lots: b.lots.map(id) })
  }
  return out
}
