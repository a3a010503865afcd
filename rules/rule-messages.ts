import type { Level, Sensor } from '../domain.js'
import type { AlertLevel } from './condition.js'
import { LEVEL_NAMES } from './rule-schema.js'

/** The level name of a level number; 0 is `cleared`. */
export function levelName(level: AlertLevel): Level | 'cleared' {
  return level === 0 ? 'cleared' : (LEVEL_NAMES[level - 1] as Level)
}

/** The level number 1–4 of a level name. */
export function levelNumber(level: Level): Exclude<AlertLevel, 0> {
  return (LEVEL_NAMES.indexOf(level) + 1) as Exclude<AlertLevel, 0>
}

/** A number as people read it: at most `decimals` decimals, no trailing zeros. */
export function formatNumber(x: number, decimals = 2): string {
  if (!Number.isFinite(x)) return String(x)
  return String(Number(x.toFixed(decimals)))
}

const UNITS: readonly [RegExp, string][] = [
  [/_cm$/, 'cm'],
  [/_mm$/, 'mm'],
  [/_m3s$/, 'm³/s'],
  [/_ms$/, 'm/s'],
  [/_m$/, 'm'],
  [/_mgl$/, 'mg/L'],
  [/_ntu$/, 'NTU'],
  [/_c$/, '°C'],
  [/_uscm$/, 'µS/cm'],
]

/** The unit of a reading field from its SI suffix (`depth_cm` → cm); empty for unitless fields such as `ph`. */
export function unitOf(field: string): string {
  for (const [pattern, unit] of UNITS) if (pattern.test(field)) return unit
  return ''
}

/** A value with its unit: "31.5 cm", "7.2". */
export function withUnit(x: number, unit: string, decimals = 2): string {
  return unit === '' ? formatNumber(x, decimals) : `${formatNumber(x, decimals)} ${unit}`
}

/** A sensor as messages name it: its registry name, or its id. */
export function sensorLabel(sensor: Sensor | undefined, id: string): string {
  return sensor?.name ?? id
}

/** Roman numeral of a GB 3838 class; class 6 is "worse than V". */
export function className(cls: number): string {
  return ['I', 'II', 'III', 'IV', 'V'][cls - 1] ?? 'worse than V'
}
