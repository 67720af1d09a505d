import { loadConfig } from '@wegent-codex/contracts';
import { BwrapLauncher } from './bwrap-launcher';
import { SandboxService, SandboxUnavailableError } from './sandbox.service';

const logger = () => {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (a: unknown, b?: unknown) => lines.push({ level, msg: String(typeof a === 'string' ? a : b) });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } as never };
};

describe('SandboxService', () => {
  it('SANDBOX=off runs without a boundary, and says so loudly at boot', async () => {
    const { lines, log } = logger();
    const service = new SandboxService(loadConfig({ SANDBOX: 'off' }), log);
    await service.onModuleInit();
    expect(service.launcher.kind).toBe('none');
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      expect.stringMatching(/^SANDBOX=off: task commands run WITHOUT a sandbox/),
    ]);
    await expect(service.require()).resolves.toBe(service.launcher);
  });

  it('a sandbox that cannot start fails every run with the reason (and logs it as an error)', async () => {
    const { lines, log } = logger();
    const service = new SandboxService(loadConfig({}), log);
    // The seam a test uses to stand for a node where bwrap is missing.
    Object.assign(service, { launcher: new BwrapLauncher({ bwrap: '/nonexistent/bwrap' }) });
    await service.onModuleInit();
    const error = await service.require().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SandboxUnavailableError);
    expect((error as Error).message).toMatch(
      /^the task sandbox cannot start: bwrap could not start a sandbox: .*apt-get install bubblewrap\)$/s,
    );
    expect(lines.some((l) => l.level === 'error' && l.msg.startsWith('task sandbox unavailable'))).toBe(true);
  });

  it('bwrap (the default) passes its probe here', async () => {
    const { log } = logger();
    const service = new SandboxService(loadConfig({}), log);
    await service.onModuleInit();
    expect(await service.current()).toEqual({ ok: true, kind: 'bwrap' });
  });
});
