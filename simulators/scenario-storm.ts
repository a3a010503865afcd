import { fileURLToPath } from 'node:url'
import type { Scenario, ScenarioFactory } from './scenario.js'
import { loadScenarioFile } from './scenario-file.js'
import { timelineScenario } from './timeline.js'
import type { Timeline } from './timeline.js'

/** The bundled `storm` scenario file. */
export const STORM_FILE = fileURLToPath(new URL('./scenarios/storm.json', import.meta.url))

let timeline: Timeline | undefined

/** The bundled `storm` scenario: simulators/scenarios/storm.json run by the timeline engine. */
export const scenarioStorm: ScenarioFactory = (context): Scenario => {
  timeline ??= loadScenarioFile(STORM_FILE)
  return timelineScenario(timeline)(context)
}
