import { AppServerClient } from './app-server-client';

/**
 * Whatever reaches codex app-server's stdout or stderr (a task's command may find a way to write
 * there) is read line by line in the worker: one endless line must not grow in its memory. A narrow
 * stand-in for Codex (a shell) prints such a line; the client kills it and says why.
 */
const endless = (fd: 1 | 2) => `head -c 300000 /dev/zero | tr '\\0' a >&${fd}; sleep 30`;

describe('AppServerClient and a line longer than its bound', () => {
  it.each([
    [1, 'stdout'],
    [2, 'stderr'],
  ] as const)('kills the process when %s carries an over-long line (%s) and names the reason', async (fd, name) => {
    const started = AppServerClient.start({
      bin: '/bin/sh',
      // The client appends `app-server` to argv: `sh -c <script> app-server` ($0 = app-server).
      configOverrides: {},
      cwd: '/tmp',
      env: { PATH: '/usr/bin:/bin' },
      maxLineBytes: 64 * 1024,
      requestTimeoutMs: 20_000,
      wrap: (command) => ({ ...command, args: ['-c', endless(fd), ...command.args] }),
    });
    await expect(started).rejects.toThrow(`initialize: codex app-server wrote a line of more than 64 KiB on ${name}; the run was stopped`);
  });
});
