import { jsonDepth, MAX_JSON_DEPTH } from './json-depth';

const nestedArrays = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);

describe('JSON nesting depth', () => {
  it('counts [ and { outside strings only', () => {
    const bytes = (text: string) => Buffer.from(text, 'utf8');
    expect(jsonDepth(bytes('1'))).toBe(0);
    expect(jsonDepth(bytes('{"a":[1,{"b":[]}]}'))).toBe(4);
    expect(jsonDepth(bytes('{"a":"[[[[{{{{"}'))).toBe(1);
    expect(jsonDepth(bytes('{"a":"\\"[[[[","b":["\\\\",[]]}'))).toBe(3);
    expect(jsonDepth(bytes('["日本語[[", {"ключ": []}]'))).toBe(3);
    expect(jsonDepth(bytes(nestedArrays(100_000)), MAX_JSON_DEPTH)).toBe(MAX_JSON_DEPTH + 1);
  });
});
