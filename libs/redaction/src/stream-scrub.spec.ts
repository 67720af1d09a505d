import fc from 'fast-check';
import { createSecretMasker, StreamScrubber } from '.';

/** A secret streamed in pieces never gets through; everything else streams through unchanged. */
const KEY = 'e2e-Echo-Key-Q7m2Z9x4W1v8';
const TOKEN = 'tok/with space+plus';
const chunk = (text: string, item_id = 'msg_1') => ({ type: 'chunk', item_id, text });
const texts = (events: { text?: string }[]) => events.map((e) => e.text ?? '');

describe('StreamScrubber', () => {
  it('holds back a possible secret start and scrubs it once complete', () => {
    const s = new StreamScrubber([KEY]);
    expect(s.push(chunk('Here: e2e-Ec'))).toEqual([chunk('Here: ')]);
    expect(s.push(chunk('ho-Key-Q7m2'))).toEqual([]);
    expect(s.push(chunk('Z9x4W1v8 (that was it).'))).toEqual([chunk('******** (that was it).')]);
  });

  it('releases held text that did not become a secret, before the next other event', () => {
    const s = new StreamScrubber([KEY]);
    expect(s.push(chunk('ends with e2e-'))).toEqual([chunk('ends with ')]);
    const done = { type: 'done', value: 'x' };
    expect(s.push(done)).toEqual([chunk('e2e-'), done]);
    expect(s.push(chunk('next'))).toEqual([chunk('next')]);
  });

  it('keeps items apart', () => {
    const s = new StreamScrubber([KEY]);
    expect(s.push(chunk('a e2e-Echo', 'msg_1'))).toEqual([chunk('a ', 'msg_1')]);
    expect(s.push(chunk('-Key-Q7m2Z9x4W1v8', 'msg_2'))).toEqual([chunk('-Key-Q7m2Z9x4W1v8', 'msg_2')]);
    expect(s.push(chunk('-Key-Q7m2Z9x4W1v8.', 'msg_1'))).toEqual([chunk('********.', 'msg_1')]);
  });

  it('scrubs the encoded forms too (URL-encoded across pieces)', () => {
    const s = new StreamScrubber([TOKEN]);
    const out = [...s.push(chunk('url tok%2Fwith%20sp')), ...s.push(chunk('ace%2Bplus end')), ...s.flush()];
    expect(texts(out).join('')).toBe('url ******** end');
  });

  it('sends a chunk that ends with a whole secret at once, scrubbed', () => {
    const s = new StreamScrubber([KEY]);
    expect(s.push(chunk(`key: ${KEY}`))).toEqual([chunk('key: ********')]);
    expect(s.flush()).toEqual([]);
  });

  it('skips secrets that are not strings', () => {
    const s = new StreamScrubber([null, undefined, KEY]);
    expect(s.push(chunk(`null undefined ${KEY}`))).toEqual([chunk('null undefined ********')]);
  });

  it.each([
    ['another type of event with text', { type: 'reasoning', item_id: 'rs_1', text: 'thinking e2e-' }],
    ['a chunk without text', { type: 'chunk', item_id: 'msg_1' }],
    ['a chunk without an item id', { type: 'chunk', text: 'ends with e2e-' }],
  ])('passes %s through untouched, after the held text', (_, event) => {
    const s = new StreamScrubber([KEY]);
    expect(s.push(chunk('held e2e-Echo'))).toEqual([chunk('held ')]);
    expect(s.push(event)).toEqual([chunk('e2e-Echo'), event]);
    expect(s.flush()).toEqual([]);
  });

  it('without secrets passes everything through at once', () => {
    const s = new StreamScrubber([]);
    expect(s.push(chunk('anything e2e-'))).toEqual([chunk('anything e2e-')]);
    expect(s.flush()).toEqual([]);
  });

  it('property: however the text is split, the pieces join to the scrubbed whole and no piece holds a secret', () => {
    const word = fc.constantFrom('hello', ' ', 'e2e-', KEY, 'Key', '.', TOKEN, '\n', 'Q7m2');
    fc.assert(
      fc.property(fc.array(word, { maxLength: 12 }), fc.array(fc.nat(200), { maxLength: 6 }), (words, cuts) => {
        const whole = words.join('');
        const points = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
        const pieces = [0, ...points, whole.length].slice(1).map((end, i, ends) => whole.slice(i === 0 ? 0 : ends[i - 1], end));
        const s = new StreamScrubber([KEY, TOKEN]);
        const out = [...pieces.flatMap((p) => s.push(chunk(p))), ...s.flush()];
        expect(texts(out).join('')).toBe(createSecretMasker([KEY, TOKEN]).scrub(whole));
        for (const t of texts(out)) expect(t).not.toContain(KEY);
      }),
      { numRuns: 300 },
    );
  });
});
