/** How the demo's flash storms are laid out: a burst of rain every `everyS`, over every drainage zone. */
export const DEMO_STORMS = {
  /** Seconds from the start of the live run to the first burst. */
  firstS: 60,
  /** Seconds between the starts of two bursts. */
  everyS: 1800,
  /** Length of a burst, seconds. */
  durationS: 360,
  /** Rain intensity of a burst, mm/h: underpasses peak just above a 27 cm closure depth, then drain. */
  mmH: 140,
} as const

/**
 * The scenario file of the demo's live phase: scenario `normal` with a short, heavy storm every half hour for
 * `hours`, so alerts fire, step down and clear again while a newcomer watches.
 */
export function demoScenario(hours: number): { name: string; description: string; rain: { startS: number; durationS: number; fromMmH: number; toMmH: number }[] } {
  const rain = []
  for (let t = DEMO_STORMS.firstS; t < hours * 3600; t += DEMO_STORMS.everyS) {
    rain.push({ startS: t, durationS: DEMO_STORMS.durationS, fromMmH: DEMO_STORMS.mmH, toMmH: DEMO_STORMS.mmH })
  }
  return {
    name: 'demo',
    description: `Scenario normal with a ${DEMO_STORMS.durationS / 60}-minute storm of ${DEMO_STORMS.mmH} mm/h every ${DEMO_STORMS.everyS / 60} minutes.`,
    rain,
  }
}
