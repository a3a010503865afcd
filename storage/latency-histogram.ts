/** A latency distribution as a Prometheus histogram, in seconds; bucket counts are cumulative (`le` semantics). */
export interface LatencyHistogram {
  /** `count` observations took at most `le` seconds; `+Inf` is `count` below. */
  buckets: Array<{ le: number; count: number }>
  /** Number of observations. */
  count: number
  /** Sum of the observed latencies in seconds. */
  sum: number
}

/** An empty histogram with the given upper bounds in seconds, ascending. */
export function latencyHistogram(bucketsS: readonly number[]): LatencyHistogram {
  return { buckets: bucketsS.map((le) => ({ le, count: 0 })), count: 0, sum: 0 }
}

/** Records one observation of `ms` milliseconds. */
export function observeLatency(histogram: LatencyHistogram, ms: number): void {
  histogram.count++
  histogram.sum += ms / 1000
  for (const bucket of histogram.buckets) if (ms <= bucket.le * 1000) bucket.count++
}
