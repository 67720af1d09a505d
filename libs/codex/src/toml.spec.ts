import fc from 'fast-check';
import { tomlDocument, tomlKey, tomlString, tomlValue } from './toml';

describe('toml', () => {
  it.each([
    ['plain', '"plain"'],
    ['say "hi"', '"say \\"hi\\""'],
    ['C:\\dir', '"C:\\\\dir"'],
    ['a\nb\r\tc', '"a\\nb\\r\\tc"'],
    ['bell\u0007 del\u007f nul\u0000', '"bell\\u0007 del\\u007f nul\\u0000"'],
    ['ünï € 🚀', '"ünï € 🚀"'],
  ])('escapes the string %j', (input, expected) => {
    expect(tomlString(input)).toBe(expected);
  });

  it('writes strings that decode back to the same text (TOML basic-string escapes are a JSON subset)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const encoded = tomlString(s);
        expect(JSON.parse(encoded)).toBe(s);
        expect(encoded).not.toMatch(/[\u0000-\u001f\u007f]/);
      }),
    );
  });

  it('quotes keys that are not bare', () => {
    expect(tomlKey('env_key')).toBe('env_key');
    expect(tomlKey('X-Team')).toBe('X-Team');
    expect(tomlKey('x.dotted')).toBe('"x.dotted"');
    expect(tomlKey('with space')).toBe('"with space"');
    expect(tomlKey('')).toBe('""');
  });

  it('writes inline values and leaves out undefined and null', () => {
    expect(tomlValue(['a', 'b"c'])).toBe('["a", "b\\"c"]');
    expect(tomlValue({ 'X-Team': 'platform', skip: undefined, n: 3, on: true })).toBe('{ X-Team = "platform", n = 3, on = true }');
    expect(tomlValue({})).toBe('{}');
    expect(tomlValue([])).toBe('[]');
    expect(() => tomlValue(Number.NaN)).toThrow(TypeError);
  });

  it('writes plain values before nested tables, as sections', () => {
    const text = tomlDocument({
      model: 'm',
      skipped: undefined,
      features: { plugins: false },
      model_providers: { wegent: { base_url: 'http://x', http_headers: { 'X-A': 'b' } } },
      empty: {},
      list: ['x'],
    });
    expect(text).toBe(
      [
        'model = "m"',
        'list = ["x"]',
        '',
        '[features]',
        'plugins = false',
        '',
        '[model_providers.wegent]',
        'base_url = "http://x"',
        '',
        '[model_providers.wegent.http_headers]',
        'X-A = "b"',
        '',
        '[empty]',
        '',
      ].join('\n'),
    );
  });
});
