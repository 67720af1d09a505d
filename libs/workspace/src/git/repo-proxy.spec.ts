import { repoProxySettings } from './repo-proxy';

const config = (value: unknown) => JSON.stringify(value);

describe('repoProxySettings (REPO_PROXY_CONFIG, §11.5)', () => {
  it.each([
    [
      'the exact domain first',
      config({ 'GitHub.com': { 'http.proxy': 'http://exact' }, 'github.com': { 'http.proxy': 'http://lower' } }),
      'GitHub.com',
      [['http.proxy', 'http://exact']],
    ],
    [
      'then the lower-cased domain',
      config({ 'github.com': { 'http.proxy': 'http://lower' }, '*': { 'http.proxy': 'http://star' } }),
      'GitHub.com',
      [['http.proxy', 'http://lower']],
    ],
    [
      'then "*"',
      config({ 'gitlab.com': { 'http.proxy': 'http://other' }, '*': { 'https.proxy': 'http://star' } }),
      'github.com',
      [['https.proxy', 'http://star']],
    ],
    [
      'an empty entry falls through',
      config({ 'github.com': {}, '*': { 'http.proxy': 'http://star' } }),
      'github.com',
      [['http.proxy', 'http://star']],
    ],
    [
      'keys compared lower-cased',
      config({ 'github.com': { 'HTTP.Proxy': 'http://a', 'HTTPS.PROXY': 'http://b' } }),
      'github.com',
      [
        ['http.proxy', 'http://a'],
        ['https.proxy', 'http://b'],
      ],
    ],
    [
      'only http.proxy/https.proxy with values',
      config({ 'github.com': { 'http.proxy': '', 'core.sshCommand': 'evil', 'https.proxy': 'http://b', 'http.sslVerify': 'false' } }),
      'github.com',
      [['https.proxy', 'http://b']],
    ],
    ['non-string values ignored', config({ 'github.com': { 'http.proxy': 3128 } }), 'github.com', []],
    [
      'a truthy non-object entry stops the lookup',
      config({ 'github.com': 'http://x', '*': { 'http.proxy': 'http://star' } }),
      'github.com',
      [],
    ],
    ['no match', config({ 'gitlab.com': { 'http.proxy': 'http://other' } }), 'github.com', []],
    ['inherited properties are no domains', config({ '*': { 'http.proxy': 'http://star' } }), 'toString', [['http.proxy', 'http://star']]],
  ])('%s', (_name, raw, domain, settings) => {
    expect(repoProxySettings(raw, domain)).toEqual({ settings });
  });

  it('nothing without a config or a domain', () => {
    expect(repoProxySettings(undefined, 'github.com')).toEqual({ settings: [] });
    expect(repoProxySettings('  ', 'github.com')).toEqual({ settings: [] });
    expect(repoProxySettings(config({ '*': { 'http.proxy': 'http://star' } }), '')).toEqual({ settings: [] });
  });

  it('warns about invalid JSON or a non-object', () => {
    expect(repoProxySettings('{oops', 'github.com')).toEqual({
      settings: [],
      warning: expect.stringMatching(/^Invalid REPO_PROXY_CONFIG JSON: /),
    });
    expect(repoProxySettings('[1]', 'github.com')).toEqual({ settings: [], warning: expect.stringMatching(/not a JSON object/) });
  });
});
