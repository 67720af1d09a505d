import { listProcesses, readCmdline } from '@wegent-codex/codex';

/** Live (non-zombie) processes whose whole command line is `cmdline`. */
export const running = (cmdline: string): number[] =>
  listProcesses()
    .filter((p) => p.state !== 'Z' && readCmdline(p.pid) === cmdline)
    .map((p) => p.pid);

/** Polls a synchronous condition every 20 ms, for at most `timeoutMs`; a timeout names `what` was awaited. */
export async function waitUntil(condition: () => boolean, what = 'a condition', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
