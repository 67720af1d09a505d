import { CodexBinaryError, resolveCodexBinary } from './codex-binary';

describe('resolveCodexBinary', () => {
  const saved = process.env.CODEX_BIN;
  afterEach(() => {
    if (saved === undefined) delete process.env.CODEX_BIN;
    else process.env.CODEX_BIN = saved;
  });

  it('finds the native binary of this platform in its optional package', () => {
    delete process.env.CODEX_BIN;
    expect(resolveCodexBinary()).toMatch(/node_modules\/@openai\/codex-linux-x64\/vendor\/x86_64-unknown-linux-musl\/bin\/codex$/);
  });

  it('prefers an override, from the options or CODEX_BIN', () => {
    expect(resolveCodexBinary({ override: '/bin/sh' })).toBe('/bin/sh');
    process.env.CODEX_BIN = '/bin/sh';
    expect(resolveCodexBinary()).toBe('/bin/sh');
  });

  it('explains what is missing', () => {
    expect(() => resolveCodexBinary({ override: '/nonexistent/codex' })).toThrow(
      new CodexBinaryError('CODEX_BIN=/nonexistent/codex is not an executable file'),
    );
    delete process.env.CODEX_BIN;
    expect(() => resolveCodexBinary({ platform: 'aix', arch: 'ppc64' })).toThrow(/no native binary for aix-ppc64/);
    expect(() => resolveCodexBinary({ platform: 'darwin', arch: 'arm64' })).toThrow(/@openai\/codex-darwin-arm64 is not installed/);
  });
});
