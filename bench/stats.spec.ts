import { fmt, mean, median, pairedRatio, percentile, ratePerSecond, summarize } from './stats';

describe('bench stats', () => {
  it('interpolates percentiles between the nearest ranks', () => {
    const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(values, 0)).toBe(1);
    expect(percentile(values, 100)).toBe(10);
    expect(percentile(values, 50)).toBe(5.5);
    expect(percentile(values, 90)).toBeCloseTo(9.1);
    expect(percentile(values, 99)).toBeCloseTo(9.91);
  });

  it('does not depend on the input order and leaves the input alone', () => {
    const values = [30, 10, 20];
    expect(median(values)).toBe(20);
    expect(values).toEqual([30, 10, 20]);
  });

  it('handles one value and no values', () => {
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(mean([])).toBeNaN();
    expect(summarize([])).toMatchObject({ n: 0, p50: NaN });
  });

  it('rejects percentiles outside 0-100', () => {
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });

  it('summarises samples', () => {
    expect(summarize([4, 1, 3, 2])).toEqual({
      n: 4,
      min: 1,
      p50: 2.5,
      p90: expect.closeTo(3.7),
      p99: expect.closeTo(3.97),
      max: 4,
      mean: 2.5,
    });
    expect(summarize([4, Number.NaN, 2])).toMatchObject({ n: 2, min: 2, max: 4, mean: 3 });
  });

  it('takes the median of paired ratios, ignoring pairs without a baseline', () => {
    expect(pairedRatio([2, 3, 10], [1, 1, 2])).toBe(3);
    expect(pairedRatio([2, 4], [0, 2])).toBe(2);
    expect(pairedRatio([1, 2, 3], [1])).toBe(1);
  });

  it('computes rates and formats numbers for tables', () => {
    expect(ratePerSecond(50, 2_000)).toBe(25);
    expect(ratePerSecond(5, 0)).toBeNaN();
    expect(fmt(1.2345, 2)).toBe('1.23');
    expect(fmt(1041.7, -1)).toBe('1040');
    expect(fmt(Number.NaN)).toBe('–');
    expect(fmt(undefined)).toBe('–');
  });
});
