import { fileURLToPath } from 'node:url'
import type { Scenario, ScenarioFactory } from './scenario.js'
import { loadScenarioFile } from './scenario-file.js'
import { timelineScenario } from './timeline.js'
import type { Timeline } from './timeline.js'

/** The bundled `parking-rush` scenario file. */
export const PARKING_RUSH_FILE = fileURLToPath(new URL('./scenarios/parking-rush.json', import.meta.url))

let timeline: Timeline | undefined

/** The bundled `parking-rush` scenario: simulators/scenarios/parking-rush.json run by the timeline engine. */
export const scenarioParkingRush: ScenarioFactory = (context): Scenario => {
  timeline ??= loadScenarioFile(PARKING_RUSH_FILE)
  return timelineScenario(timeline)(context)
}
