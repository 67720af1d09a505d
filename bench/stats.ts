/**
 * Order statistics for the benchmark tables. Percentiles interpolate linearly between the two
 * nearest ranks (numpy's default, "type 7"), so with n < 100 samples p99 lies between the two
 * largest values: read it as "about the worst case", not as a tail estimate.
 */

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** The p-th percentile (0–100) of `values`; NaN for no values. The input is not modified. */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0-100, got ${p}`);
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** n, min, p50, p90, p99, max and mean; NaN samples (a missing measurement) are left out. */
export function summarize(samples: readonly number[]): Summary {
  const values = samples.filter((v) => !Number.isNaN(v));
  return {
    n: values.length,
    min: values.length ? Math.min(...values) : NaN,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: values.length ? Math.max(...values) : NaN,
    mean: mean(values),
  };
}

/**
 * Median of the pairwise ratios `a[i] / b[i]` — the overhead ratio of interleaved runs, where each
 * pair ran back to back and so shares the machine's momentary load.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  const ratios: number[] = [];
  for (let i = 0; i < n; i += 1) if (b[i] > 0) ratios.push(a[i] / b[i]);
  return median(ratios);
}

/** Events per second over a window in milliseconds (NaN for an empty window). */
export function ratePerSecond(count: number, windowMs: number): number {
  return windowMs > 0 ? (count * 1000) / windowMs : NaN;
}

/** A fixed-precision number for tables ("–" for NaN/undefined); negative digits round to tens, hundreds… */
export function fmt(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  if (digits < 0) return String(Math.round(value / 10 ** -digits) * 10 ** -digits);
  return value.toFixed(digits);
}
