import {
  createSecretMasker,
  isSensitiveKey,
  maskDeep,
  maskSensitiveData,
  maskText,
  maskValue,
  percentEncodeAll,
  SECRET_PLACEHOLDER,
} from './index';

// Expected outputs were produced by a Python reference of docs/protocol/wegent-protocol.md §11.11 (the same
// patterns run by Python's `re`), so they are byte-exact with the original masker.

const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const SK_PROJ = 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz_0123456789-AbCdEfGhIjKlMnOp';
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
const RSA_BLOCK = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----';
const PKCS8_BLOCK = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----';

describe('maskValue', () => {
  it.each([
    ['', ''],
    ['abc', '***'],
    ['12345678', '********'],
    ['123456789', '1234************6789'],
    ['sk-abcdefghijklmnopqrstuvwxyz', 'sk-a************wxyz'],
    // lengths count code points, as Python's len()
    ['😀😀😀😀😀😀😀😀', '********'],
    ['😀bcdefgh😀', '😀bcd************fgh😀'],
  ])('%j → %j', (value, masked) => expect(maskValue(value)).toBe(masked));
});

describe('maskText: the 22 rules of §11.11', () => {
  it.each([
    // [rule, input, output]
    [1, 'github_pat_11ABCDEFG0_abcdef123456', 'gith************3456'],
    [1, 'see github_pat-not-a-token', 'see github_pat-not-a-token'],
    [2, `ghp_${'a1B2'.repeat(9)}`, 'ghp_************a1B2'],
    [2, `ghp_${'a'.repeat(35)}`, `ghp_${'a'.repeat(35)}`],
    [3, `gho_${'Z9'.repeat(18)}`, 'gho_************Z9Z9'],
    [3, `gho_${'Z'.repeat(35)}`, `gho_${'Z'.repeat(35)}`],
    [4, 'glpat-AbCdEfGhIj-_KlMnOpQr', 'glpa************OpQr'],
    [4, `glpat-${'x'.repeat(19)}`, `glpat-${'x'.repeat(19)}`],
    [5, `OPENAI sk-${'Ab3'.repeat(16)}`, 'OPENAI sk-A************3Ab3'],
    [5, SK_PROJ, SK_PROJ], // current project keys escape rule 5 (the exact-value masker covers them)
    [6, `sk-ant-api03-${'x'.repeat(95)}`, 'sk-a************xxxx'],
    [6, `sk-ant-${'y'.repeat(94)}`, `sk-ant-${'y'.repeat(94)}`],
    [7, 'AKIAIOSFODNN7EXAMPLE', 'AKIA************MPLE'],
    [7, 'akiaiosfodnn7example', 'akia************mple'],
    [7, 'AKIA123', 'AKIA123'],
    [8, `aws_secret_access_key = ${AWS_SECRET}`, 'aws_secret_access_key = wJal************EKEY'],
    [8, `AWS-SECRET-KEY: "${AWS_SECRET}"`, 'AWS-SECRET-KEY: "wJal************EKEY"'],
    [8, `aws_secret_access_key = ${AWS_SECRET}X`, `aws_secret_access_key = ${AWS_SECRET}X`], // 41 characters: no word boundary
    [9, `xaws_secret_key=${AWS_SECRET}`, 'xaws_secret_key=wJal************EKEY'], // not at a word start: rule 9 takes it
    [9, `my_secret_access_key: ${AWS_SECRET}.`, 'my_secret_access_key: wJal************EKEY.'],
    [10, 'token: abc.def-ghi_123', 'token: abc.************_123'],
    [10, 'the token is here', 'the token ** here'], // the must-match side effect on prose
    [10, 'TOKEN="xyz"', 'TOKEN="***"'],
    [10, 'tokens are cheap', 'tokens are cheap'],
    [11, 'secret=hunter2', 'secret=*******'],
    [11, 'secrets are kept', 'secrets are kept'],
    [12, 'api_key: abcdefghijkl', 'api_key: abcd************ijkl'],
    [12, 'apikey=abc', 'apikey=***'],
    [12, 'API-KEY = sk_live_0123456789', 'API-KEY = sk_l************6789'],
    [12, 'api key: abc', 'api key: abc'],
    [13, 'authtoken: q', 'authtoken: *'],
    [13, 'auth_token=abcdefghijk', 'auth_token=****************hijk'], // rule 10 first, then 13 on its output
    [14, `Bearer ${JWT}`, 'Bearer eyJh************dXJl'],
    [14, 'eyJhbGc.notjwt.x', 'eyJhbGc.notjwt.x'],
    [15, 'password: "hunter2"', 'password: "*******"'],
    [15, 'PASSWORD=p@ss!word#1 next', 'PASSWORD=p@ss************rd#1 next'],
    [16, 'passwd=abcdefgh', 'passwd=********'],
    [17, 'pwd: /home/alice', 'pwd: /hom************lice'],
    [17, 'cwd: /home/alice', 'cwd: /home/alice'],
    [18, 'mysql://root:s3cr3t@db:3306/app', 'mysql://root:******@db:3306/app'],
    [19, 'postgresql://app:p4ss@host/db', 'postgresql://app:****@host/db'],
    [19, 'postgres://app:p4ss@host/db', 'postgres://app:p4ss@host/db'],
    [20, 'mongodb://u:longpassword123@h', 'mongodb://u:long************d123@h'],
    [20, 'mongodb+srv://u:p@h', 'mongodb+srv://u:p@h'],
    [21, RSA_BLOCK, '----************----'],
    [21, 'a -----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY----- z', 'a ----************---- z'],
    [21, PKCS8_BLOCK, PKCS8_BLOCK], // PKCS#8 escapes rule 21
    [22, 'export MY_AES_IV="1234567890123456"', 'export MY_AES_IV="1234************3456"'],
    [22, "export OPENAI_ORG='org-abcdefghij'", "export OPENAI_ORG='org-************ghij'"],
    [22, 'export GITHUB_TOKEN=abc123def456', 'export GITHUB_TOKEN=abc1************f456'],
    [22, 'export REDIS_HOST=localhost', 'export REDIS_HOST=localhost'],
    [22, 'export DATABASE_URL=postgres://u:p@h/db', 'export DATABASE_URL=postgres://u:p@h/db'], // _URL vetoes
    [22, 'export FOO_KEY_PORT=8080', 'export FOO_KEY_PORT=8080'],
  ])('rule %i: %j', (_rule, input, output) => expect(maskText(input)).toBe(output));

  it("follows Python's regex semantics where JavaScript's differ", () => {
    // \s includes the information separators U+001C–U+001F (and not U+FEFF)
    expect(maskText('password\u001c=hunter2')).toBe('password\u001c=*******');
    expect(maskText('password\ufeff=hunter2')).toBe('password\ufeff=hunter2');
    // \b is Unicode-aware: "é" is a word character, so rule 8 does not start after it (rule 9 does)
    expect(maskText(`éaws_secret_key=${AWS_SECRET}`)).toBe('éaws_secret_key=wJal************EKEY');
    expect(maskText(`secret_key: ${AWS_SECRET}é`)).toBe(`secret_key: ${AWS_SECRET}é`);
    // IGNORECASE lets ı and İ match i
    expect(maskText('AKİA1234567890123456 apı_key=abc')).toBe('AKİA************3456 apı_key=***');
    // …inside character classes too: Python's [A-Za-z0-9] matches ı and İ under IGNORECASE
    expect(maskText(`ghp_ı${'a'.repeat(35)}`)).toBe('ghp_************aaaa');
    expect(maskText(`glpat-${'İ'.repeat(20)}`)).toBe('glpa************İİİİ');
  });

  it('leaves ordinary code, paths, URLs and prose alone', () => {
    const plain = [
      '/workspace/11540/Wegent/features/tasks/components/ChatArea.tsx',
      'src/main/java/com/example/MyClass.java',
      'C:\\Users\\Admin\\Desktop\\project\\src\\main.py',
      'https://github.com/wecode-ai/Wegent.git',
      'https://api.example.com/endpoint?param=value',
      'const total = items.reduce((sum, item) => sum + item.price, 0);',
      'function apiKeyHeader(): string { return "x-api-key-name"; }',
      'git status && npm test -- --watch=false',
      'Fixed the login bug: the session cookie was not refreshed.',
      '## Summary\n\n- Added tests\n- Updated README.md',
      'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0', // a 40-character commit hash
      '{"status": "ok", "count": 42}',
      'TypeError: x is undefined (null or undefined, NaN)',
    ];
    for (const text of plain) expect(maskText(text)).toBe(text);
  });

  it('is stateless between calls (global regexes)', () => {
    expect(maskText('token: abcdef')).toBe('token: ******');
    expect(maskText('token: abcdef')).toBe('token: ******');
  });
});

describe('isSensitiveKey', () => {
  it.each([
    ['api_key', true],
    ['auth_token', true],
    ['GITHUB_TOKEN', true],
    ['db_password', true],
    ['OPENAI_ORG', true],
    ['oidc_client', true],
    ['token', false],
    ['apiKey', false],
    ['DATABASE_URL', false], // _URL vetoes
    ['REDIS_HOST', false],
    ['API_KEY_PORT', false],
    ['name', false],
  ])('%s → %s', (key, sensitive) => expect(isSensitiveKey(key)).toBe(sensitive));
});

describe('maskSensitiveData', () => {
  it('masks by key name, applies the text rules elsewhere and keeps other values', () => {
    const input = {
      api_key: 'sk-proj-abcdefghijklmnop',
      auth_token: JWT,
      token: 'plain-value',
      apiKey: 'abcdefghijk',
      nested: { GITHUB_TOKEN: 'x', note: 'token: abc' },
      list: ['token: abc', { db_password: 'hunter22' }, 7],
      OPENAI_KEY: 12,
      flag: true,
      nothing: null,
      DATABASE_URL: 'postgresql://u:pw@h/db',
      REDIS_HOST: 'token=abc',
    };
    expect(maskSensitiveData(input)).toEqual({
      api_key: 'sk-p************mnop',
      auth_token: 'eyJh************dXJl',
      token: 'plain-value',
      apiKey: 'abcdefghijk',
      nested: { GITHUB_TOKEN: '*', note: 'token: ***' },
      list: ['token: ***', { db_password: '********' }, 7],
      OPENAI_KEY: 12,
      flag: true,
      nothing: null,
      DATABASE_URL: 'postgresql://u:**@h/db',
      REDIS_HOST: 'token=***',
    });
    expect(input.api_key).toBe('sk-proj-abcdefghijklmnop'); // not mutated
  });

  it('masks a top-level string and keeps non-JSON values', () => {
    expect(maskSensitiveData('token: abc')).toBe('token: ***');
    expect(maskSensitiveData(42)).toBe(42);
    const date = new Date(0);
    expect(maskSensitiveData(date)).toBe(date);
  });

  it('keeps a "__proto__" key as data and survives cycles', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": "token: abc"}}') as Record<string, unknown>;
    const masked = maskSensitiveData(parsed);
    expect(Object.getPrototypeOf(masked)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(masked, '__proto__')?.value).toEqual({ polluted: 'token: ***' });
    const cyclic: Record<string, unknown> = { a: 'token: x' };
    cyclic.self = cyclic;
    const out = maskSensitiveData(cyclic) as Record<string, unknown>;
    expect(out.a).toBe('token: *');
    expect(out.self).toBe(out);
  });
});

describe('createSecretMasker', () => {
  const gitToken = 'ghs_plainGitToken/with+chars';
  const encryptedToken = 'q3ZxK1u0b9cM2l5eH0vW8A==';
  const masker = createSecretMasker([SK_PROJ, gitToken, encryptedToken, 'abc', '', null, undefined]);

  it('removes exact secret values the rules miss', () => {
    expect(masker.maskText(`key=${SK_PROJ}.`)).toBe(`key=${SECRET_PLACEHOLDER}.`);
    expect(masker(`using ${SK_PROJ}`)).toBe(`using ${SECRET_PLACEHOLDER}`);
    expect(masker.scrub(`"${encryptedToken}"`)).toBe(`"${SECRET_PLACEHOLDER}"`);
  });

  it('removes URL-encoded and JSON-escaped forms too', () => {
    expect(masker.scrub(`https://token:${percentEncodeAll(gitToken)}@gerrit.example.com/r`)).toBe(
      `https://token:${SECRET_PLACEHOLDER}@gerrit.example.com/r`,
    );
    expect(masker.scrub(`https://token:${encodeURIComponent(gitToken)}@host/r`)).toBe(`https://token:${SECRET_PLACEHOLDER}@host/r`);
    const quoted = createSecretMasker(['pa"ss\\word']);
    expect(quoted.scrub(JSON.stringify({ p: 'pa"ss\\word' }))).toBe(`{"p":"${SECRET_PLACEHOLDER}"}`);
  });

  it('scrubs before the rules, so no fragment of a secret survives', () => {
    // The rules alone would mask only "ghs_plainGitToken" and leave "/with+chars" visible.
    expect(maskText(`token: ${gitToken}`)).toBe('token: ghs_************oken/with+chars');
    expect(masker.maskText(`token: ${gitToken}`)).toBe(`token: ${SECRET_PLACEHOLDER}`);
  });

  it('ignores values shorter than 4 characters', () => {
    expect(masker.scrub('abc abcd')).toBe('abc abcd');
  });

  it('replaces the longer of overlapping secrets whole', () => {
    expect(createSecretMasker(['abcd', 'abcdefgh']).scrub('xxabcdefghxx abcd')).toBe(`xx${SECRET_PLACEHOLDER}xx ${SECRET_PLACEHOLDER}`);
  });

  it('escapes regex characters in secrets', () => {
    expect(createSecretMasker(['a.b*c+d?']).scrub('a.b*c+d? aXbbc+d?')).toBe(`${SECRET_PLACEHOLDER} aXbbc+d?`);
  });

  it('masks details deeply (maskDeep)', () => {
    const details = {
      type: 'tool_use',
      input: { command: `curl -H "Authorization: Bearer ${SK_PROJ}" https://api`, api_key: SK_PROJ },
      output: [`cloned with ${gitToken}`, PKCS8_BLOCK],
      count: 1,
    };
    expect(maskDeep(details, [SK_PROJ, gitToken])).toEqual({
      type: 'tool_use',
      input: { command: `curl -H "Authorization: Bearer ${SECRET_PLACEHOLDER}" https://api`, api_key: SECRET_PLACEHOLDER },
      output: [`cloned with ${SECRET_PLACEHOLDER}`, PKCS8_BLOCK],
      count: 1,
    });
    expect(masker.maskDeep({ text: 'the token is here' })).toEqual({ text: 'the token ** here' });
  });

  it('without secrets behaves as the plain masker', () => {
    const none = createSecretMasker([]);
    expect(none.maskText('token: abc')).toBe('token: ***');
    expect(none.scrub('anything')).toBe('anything');
  });
});

describe('percentEncodeAll', () => {
  it("encodes like Python's quote(s, safe='')", () => {
    expect(percentEncodeAll("a/b:c@d!e'f(g)h*i~j_k.l-m é")).toBe('a%2Fb%3Ac%40d%21e%27f%28g%29h%2Ai~j_k.l-m%20%C3%A9');
  });
});
