import { AppServerClient } from './app-server-client';

/**
 * A narrow stand-in for `codex app-server` (node, line-delimited JSON-RPC on stdio) that answers
 * `turn/interrupt` the way 0.169 sometimes does: `turn/completed` first, the response after it, in
 * one write. Real Codex does this about one cancel in three, so it is pinned here.
 */
const STAND_IN = `
const rl = require('node:readline').createInterface({ input: process.stdin });
const send = (...messages) => process.stdout.write(messages.map((m) => JSON.stringify(m) + '\\n').join(''));
rl.on('line', (line) => {
  const m = JSON.parse(line);
  if (m.method === 'initialize') send({ id: m.id, result: { userAgent: 'stand-in' } });
  else if (m.method === 'turn/interrupt' && process.env.STAND_IN_MODE === 'complete-first')
    send(
      { method: 'turn/completed', params: { threadId: m.params.threadId, turn: { id: m.params.turnId, status: 'interrupted' } } },
      { id: m.id, result: {} },
    );
  else if (m.method === 'turn/interrupt') send({ id: m.id, result: {} });
});
rl.on('close', () => process.exit(0));
`;

async function standIn(mode: 'complete-first' | 'never-completes'): Promise<AppServerClient> {
  return AppServerClient.start({
    bin: process.execPath,
    cwd: '/tmp',
    env: { PATH: '/usr/bin:/bin', STAND_IN_MODE: mode },
    requestTimeoutMs: 20_000,
    // `node -e <script> app-server`: the client appends `app-server`, which the script ignores.
    wrap: (command) => ({ ...command, args: ['-e', STAND_IN, ...command.args] }),
  });
}

describe('AppServerClient.interruptTurn', () => {
  let client: AppServerClient | undefined;
  afterEach(async () => {
    await client?.shutdown({ graceMs: 1_000 });
    client = undefined;
  });

  it('sees a turn/completed that arrives ahead of the interrupt response (no wait for the timeout)', async () => {
    client = await standIn('complete-first');
    // A timeout far beyond the test's own: a missed notification fails the test instead of passing late.
    await expect(client.interruptTurn('thread-1', 'turn-1', { timeoutMs: 600_000 })).resolves.toBe(true);
  }, 15_000);

  it('gives up after its timeout when Codex never completes the turn, and says so', async () => {
    client = await standIn('never-completes');
    await expect(client.interruptTurn('thread-1', 'turn-1', { timeoutMs: 200 })).resolves.toBe(false);
  }, 15_000);
});
