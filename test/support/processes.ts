import { listProcesses, readCmdline } from '@wegent-codex/codex';

/** Live (non-zombie) processes whose whole command line is `cmdline`. */
export const running = (cmdline: string): number[] =>
  listProcesses()
    .filter((p) => p.state !== 'Z' && readCmdline(p.pid) === cmdline)
    .map((p) => p.pid);

/** Polls a synchronous condition every 20 ms, for at most `timeoutMs`. */
export async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
