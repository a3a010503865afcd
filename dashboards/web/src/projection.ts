/** A point on the map, in SVG user units (y grows downwards). */
export interface MapPoint {
  x: number
  y: number
}

/** A projection of lat/lon onto an SVG viewBox that keeps the aspect of the ground. */
export interface MapProjection {
  width: number
  height: number
  project(lat: number, lon: number): MapPoint
}

/**
 * Fits the points into a viewBox `width` wide with `padding` on every side, with an equirectangular projection
 * (longitudes shrunk by cos of the mean latitude: a district is small enough for that to be true to within a pixel).
 * The height follows from the points' extent; a single point or none gives a square.
 */
export function fitProjection(points: readonly { lat: number; lon: number }[], width: number, padding: number): MapProjection {
  const finite = points.filter((p) => Number.isFinite(p.lat) && Number.isFinite(p.lon))
  if (finite.length === 0) return { width, height: width, project: () => ({ x: width / 2, y: width / 2 }) }
  let minLat = Infinity
  let maxLat = -Infinity
  let minLon = Infinity
  let maxLon = -Infinity
  for (const p of finite) {
    minLat = Math.min(minLat, p.lat)
    maxLat = Math.max(maxLat, p.lat)
    minLon = Math.min(minLon, p.lon)
    maxLon = Math.max(maxLon, p.lon)
  }
  const kx = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180)
  const spanX = (maxLon - minLon) * kx
  const spanY = maxLat - minLat
  const inner = width - 2 * padding
  if (spanX === 0 && spanY === 0) return { width, height: width, project: () => ({ x: width / 2, y: width / 2 }) }
  // A north-south line of sensors would give an infinite scale: fit the taller side then.
  const scale = spanX > 0 ? inner / spanX : inner / spanY
  const height = Math.min(spanY * scale, 2 * inner) + 2 * padding
  const fitted = Math.min(scale, (height - 2 * padding) / (spanY || 1))
  const offsetX = padding + (inner - spanX * fitted) / 2
  const round = (n: number) => Math.round(n * 10) / 10
  return {
    width,
    height: round(height),
    project(lat, lon) {
      return { x: round(offsetX + (lon - minLon) * kx * fitted), y: round(padding + (maxLat - lat) * fitted) }
    },
  }
}

/** Mean position of each group's points (where a segment's label goes). */
export function centroids<T extends { lat: number; lon: number }>(points: readonly T[], groupOf: (p: T) => string): Map<string, { lat: number; lon: number; count: number }> {
  const sums = new Map<string, { lat: number; lon: number; count: number }>()
  for (const p of points) {
    const key = groupOf(p)
    const s = sums.get(key) ?? { lat: 0, lon: 0, count: 0 }
    s.lat += p.lat
    s.lon += p.lon
    s.count += 1
    sums.set(key, s)
  }
  for (const s of sums.values()) {
    s.lat /= s.count
    s.lon /= s.count
  }
  return sums
}
