import type { SensorKind } from '../domain.js'

/** Decimals each kind's fields are reported with: what real instruments and GB 3838 hourly data use. */
export const FIELD_PRECISION: Record<SensorKind, Readonly<Record<string, number>>> = {
  water_level: { level_m: 3 },
  flow: { flow_m3s: 3, velocity_ms: 3 },
  water_quality: { do_mgl: 2, nh3n_mgl: 3, codmn_mgl: 2, tp_mgl: 3, ph: 2, turbidity_ntu: 1, temp_c: 2, cond_uscm: 0 },
  manhole_level: { level_m: 3 },
  pipe_level: { level_m: 3, flow_m3s: 4 },
  ponding_depth: { depth_cm: 1 },
  tunnel_depth: { depth_cm: 1 },
  sediment: { sediment_m: 3 },
  rainfall: { rain_mm: 1 },
  parking: { occupied: 0, capacity: 0 },
}

const POW10 = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000]

/**
 * Rounds `value` half away from zero to `decimals` (0–6); an integer divided by a power of ten is the
 * double nearest the decimal, so JSON prints it short (3.4, never 3.4000000000000004). Never returns −0.
 */
export function roundTo(value: number, decimals: number): number {
  const p = POW10[decimals] ?? 10 ** decimals
  const r = (Math.sign(value) * Math.round(Math.abs(value) * p)) / p
  return r === 0 ? 0 : r
}

/** Rounds a field of `kind` to its reporting precision (3 decimals for a field not in the table). */
export function fieldPrecision(kind: SensorKind, field: string, value: number): number {
  return roundTo(value, FIELD_PRECISION[kind][field] ?? 3)
}
