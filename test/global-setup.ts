import type { TestProject } from 'vitest/node'
import { buildEngine } from '../bin/build-engine.js'
import { buildDashboard } from '../dashboards/web/build.js'
import { startInfluxd } from './helpers/influxd.js'
import { startMosquitto } from './helpers/mosquitto.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the private influxd, e.g. http://127.0.0.1:40123. */
    influxUrl: string
    /** URL of the private Mosquitto, e.g. mqtt://127.0.0.1:40124. */
    mosquittoUrl: string
  }
}

/** Starts one private influxd and one Mosquitto for the run, on free ports in temp dirs. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The dashboard is built from its sources, so the browser tests never see a stale bundle; so is the engine's, which
  // the engine processes the tests start then run (bin/citywater.js runs the sources instead if one changes meanwhile).
  const [influx, mosquitto] = await Promise.all([startInfluxd(), startMosquitto(), buildDashboard(), buildEngine()])
  project.provide('influxUrl', influx.url)
  project.provide('mosquittoUrl', mosquitto.url)
  return async () => {
    await Promise.all([influx.stop(), mosquitto.stop()])
  }
}
