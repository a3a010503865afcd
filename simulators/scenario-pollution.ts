import { fileURLToPath } from 'node:url'
import type { Scenario, ScenarioFactory } from './scenario.js'
import { loadScenarioFile } from './scenario-file.js'
import { timelineScenario } from './timeline.js'
import type { Timeline } from './timeline.js'

/** The bundled `pollution` scenario file. */
export const POLLUTION_FILE = fileURLToPath(new URL('./scenarios/pollution.json', import.meta.url))

let timeline: Timeline | undefined

/** The bundled `pollution` scenario: simulators/scenarios/pollution.json run by the timeline engine. */
export const scenarioPollution: ScenarioFactory = (context): Scenario => {
  timeline ??= loadScenarioFile(POLLUTION_FILE)
  return timelineScenario(timeline)(context)
}
