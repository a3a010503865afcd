import type { Registry, Sensor } from '../domain.js'
import { AppError } from '../errors.js'
import { isScenarioPath, loadScenarioFile } from './scenario-file.js'
import { scenarioNormal } from './scenario-normal.js'
import { scenarioParkingRush } from './scenario-parking-rush.js'
import { scenarioPollution } from './scenario-pollution.js'
import { scenarioStorm } from './scenario-storm.js'
import { scenarioFaults } from './scenario-faults.js'
import { scenarioLoad } from './scenario-load.js'
import type { SeededRandom } from './seeded-random.js'
import { timelineScenario } from './timeline.js'

/** What a scenario is built from. */
export interface ScenarioContext {
  registry: Registry
  /** The run's root random stream; scenarios fork it per sensor so values never depend on other sensors. */
  rng: SeededRandom
  /** Event time of the first reading, epoch milliseconds. */
  start: number
  /** Exclusive end of the event-time window, epoch milliseconds; Infinity for an open-ended run. */
  end: number
}

/** The fields of one reading, keys in the kind's KIND_FIELDS order. */
export type ReadingFields = Record<string, number>

/** A source of sensor readings: the physics of one situation (normal weather, a storm, a spill...). */
export interface Scenario {
  readonly name: string
  /**
   * The fields of `sensor`'s reading at event time `ts` (epoch ms), or null when the sensor sends
   * nothing this time (a drop-out: its `seq` still advances). Called in ts order for each sensor.
   */
  reading(sensor: Sensor, ts: number): ReadingFields | null
}

/** Builds a scenario for one run. */
export type ScenarioFactory = (context: ScenarioContext) => Scenario

/** The scenarios `--scenario` accepts, by name. */
export const SCENARIOS: Readonly<Record<string, ScenarioFactory>> = {
  normal: scenarioNormal,
  storm: scenarioStorm,
  pollution: scenarioPollution,
  faults: scenarioFaults,
  load: scenarioLoad,
  'parking-rush': scenarioParkingRush,
}

/**
 * Builds a bundled scenario by name, or runs a scenario file (a path: it contains a slash or ends in
 * `.json`); throws CW_ERR_CONFIG_INVALID for an unknown name or an invalid file.
 */
export function createScenario(name: string, context: ScenarioContext): Scenario {
  const factory = Object.hasOwn(SCENARIOS, name) ? SCENARIOS[name] : undefined
  if (factory === undefined && isScenarioPath(name)) return timelineScenario(loadScenarioFile(name))(context)
  if (factory === undefined) {
    throw new AppError('CW_ERR_CONFIG_INVALID', [`unknown scenario '${name}' (available: ${Object.keys(SCENARIOS).join(', ')})`])
  }
  return factory(context)
}
