import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { BwrapLauncher } from '@wegent-codex/sandbox';

/**
 * KNOWN HOLE (not fixed here; docs/en/security.md "Loopback and the pod network"): the sandbox
 * shares the worker's network namespace, so a task command reaches every service the worker can —
 * and several Wegent endpoints have no authentication at all (docs/protocol/wegent-protocol.md §2:
 * executor_manager's `POST /executor-manager/callback` and `/executor-manager/tasks/cancel`, the
 * backend's `PUT /api/executors/tasks` and `POST /api/executors/tasks/dispatch`). A task can forge
 * another tenant's terminal callback, cancel it, or claim other tenants' pending payloads (model
 * keys, sealed git tokens, auth tokens), and reach cloud metadata (169.254.169.254).
 *
 * `it.failing`: this passes while the hole is open and turns red once runs get a network of their
 * own (a per-run network namespace with an egress proxy that allows the model endpoint, git hosts
 * and MCP servers only) — then make it a plain `it`.
 */
const base = resolve(__dirname, '../../.data/test-security', `net-${randomBytes(4).toString('hex')}`);
const taskDir = join(base, '8821');

describe("a task command and the services on the worker's network", () => {
  let server: Server;
  const received: string[] = [];

  beforeAll(async () => {
    await mkdir(taskDir, { recursive: true });
    // Stands for executor_manager's callback endpoint (no auth, as in Wegent).
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push(`${req.method} ${req.url} ${body}`);
        res.end('{"status":"success"}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await rm(base, { recursive: true, force: true });
  });

  it.failing("cannot forge another tenant's callback at executor_manager", async () => {
    const port = (server.address() as AddressInfo).port;
    const forged = JSON.stringify({
      task_id: 8801,
      subtask_id: 1,
      status: 'COMPLETED',
      progress: 100,
      result: { value: 'forged by 8821' },
    });
    const command = new BwrapLauncher().command({
      file: '/bin/sh',
      args: [
        '-c',
        `curl -s -m 5 -H 'content-type: application/json' -d '${forged}' http://127.0.0.1:${port}/executor-manager/callback; true`,
      ],
      cwd: taskDir,
      env: { PATH: '/usr/bin:/bin' },
      writable: [taskDir],
    });
    await execa(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      extendEnv: false,
      reject: false,
      timeout: 20_000,
      stdin: 'ignore',
    });
    expect(received).toEqual([]);
  });
});
