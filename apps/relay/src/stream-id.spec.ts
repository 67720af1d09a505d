import { compareStreamIds, isAfter, newestStreamId } from './stream-id';

/** Stream ids compare as numbers ("<ms>-<seq>"), not as text; "0" and "-" are before everything. */
describe('stream ids', () => {
  it.each([
    ['1700000000001-0', '1700000000000-9', 1],
    ['1700000000000-10', '1700000000000-9', 1], // as text "10" < "9"
    ['999-0', '1000-0', -1], // as text "999" > "1000"
    ['5-3', '5-3', 0],
    ['1700', '1699-5', 1], // an id without a sequence number is "<ms>-0"
    ['1700', '1700-0', 0],
    ['1700', '1700-1', -1],
    ['0', '0-1', -1],
    ['-', '0-0', 0],
    ['0-1', '-', 1],
  ])('compare(%s, %s) = %i', (a, b, expected) => {
    expect(compareStreamIds(a, b)).toBe(expected);
    expect(compareStreamIds(b, a)).toBe(-expected || 0);
  });

  it('isAfter is strict: an id is not after itself', () => {
    expect(isAfter('5-3', '5-3')).toBe(false);
    expect(isAfter('5-4', '5-3')).toBe(true);
    expect(isAfter('5-2', '5-3')).toBe(false);
    expect(isAfter('1-0', '0')).toBe(true);
  });

  it('newestStreamId picks the numerically greatest, undefined for none', () => {
    expect(newestStreamId(['9-0', '10-0', '10-2', '10-10', '2-99'])).toBe('10-10');
    expect(newestStreamId(['7-1', '7-1'])).toBe('7-1');
    expect(newestStreamId([])).toBeUndefined();
  });
});
