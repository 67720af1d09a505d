import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import pino from 'pino';
import { configureHttpApp } from '../apps/api/src';
import { AppModule } from '../apps/service/src';
import { NestPinoLogger } from '../apps/service/src';
import { onPath, redisAnswers, startEmbeddedRedis, type EmbeddedRedis } from '../apps/service/src';
import { describeStep } from '../apps/cli/src';
import { clip, readableMessage } from '../apps/cli/src';
import { ConfigError, loadConfig, type CallbackBody, type Config, type ThinkingStep } from '@wegent-codex/contracts';
import { createLogger } from '@wegent-codex/runtime';
import { exec, message, pause, reasoning, startFakeResponses, turn, type FakeResponses } from '../test/fixtures/fake-responses';

/**
 * `npm run demo`: the whole path on one machine, no API key. A scripted stand-in for the OpenAI
 * Responses API, a small local git repository, a local callback sink in place of
 * executor_manager, and the service with every role in this process. One task goes in through
 * the executor API; the callbacks executor_manager would receive are printed as they arrive,
 * with the answer streaming in them. `--stay` keeps everything up afterwards (Bull Board, the
 * CLI) until Ctrl-C; `--task-id N` picks the task id (default: the current Unix time), so another
 * terminal can `wegent-codex tail --wait N 1` it (scripts/capture-tail.sh does).
 * `--slow-second-task` then sends a second task (id N+1) whose model pauses SLOW_TURN_MS mid-turn,
 * so Bull Board shows one finished and one running job (scripts/screenshot-board.sh uses it).
 */
const { values: flags } = parseArgs({
  options: { stay: { type: 'boolean' }, 'task-id': { type: 'string' }, 'slow-second-task': { type: 'boolean' } },
});
const STAY = flags.stay ?? false;
const DEMO_DIR = resolve('.data/demo');
const SINK_PATH = '/executor-manager/callback';
const COMMAND = 'git log --oneline && cat README.md';
const FINAL_ANSWER =
  'The repository has a single commit, "Add a greeting", and its README says hello from a small local ' +
  'repository. Everything is in order: there is nothing to fix.';
const RUN_TIMEOUT_MS = 120_000;
const SLOW_TURN_MS = 120_000;

const say = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const config = demoConfig();
  const cleanup: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  };
  let interrupted = false;
  const done = new Promise<void>((resolveDone) => {
    // `on`, not `once`: signal-exit (a dependency) re-raises a signal nobody else listens to, which
    // would end the process before the cleanup below.
    process.on('SIGINT', () => {
      interrupted = true;
      resolveDone();
    });
    process.on('SIGTERM', () => resolveDone());
  });

  try {
    say('wegent-codex demo: the whole path, with a scripted model and no API key');
    const embedded = await ensureRedis(config);
    if (embedded) {
      cleanup.push(() => embedded.stop());
      process.once('exit', () => embedded.process.kill('SIGTERM')); // also on a crash
    }
    say(
      `  redis       ${redactUrl(config.REDIS_URL)}${embedded ? ' (embedded redis-server, data in .data/redis)' : ''}, key prefix ${config.REDIS_PREFIX}`,
    );

    const fake = await startFakeModel();
    cleanup.push(() => fake.close());
    say(`  model       scripted Responses API at ${fake.baseUrl}`);

    const taskId = flags['task-id'] ? Number(flags['task-id']) : Math.floor(Date.now() / 1000);
    if (!Number.isSafeInteger(taskId) || taskId < 0) throw new Error(`--task-id must be a non-negative integer, got ${flags['task-id']}`);
    const repository = await createRepository(taskId);
    cleanup.push(() => rm(new URL(repository).pathname, { recursive: true, force: true }));
    cleanup.push(() => rm(join(resolve(config.WORKSPACE_ROOT), String(taskId)), { recursive: true, force: true }));
    say(`  repository  ${repository} (a small local git repository)`);

    const sink = await startCallbackSink();
    cleanup.push(() => sink.close());
    say(`  callbacks   local sink at ${sink.url} (stands in for executor_manager)`);

    // The worker shares this process, so Bull Board is served only with credentials: the demo
    // makes a pair of its own unless the environment gives one.
    const board =
      config.BOARD_USER && config.BOARD_PASSWORD ? null : { BOARD_USER: 'demo', BOARD_PASSWORD: randomBytes(9).toString('base64url') };
    const service = { ...config, ...board, CALLBACK_URL: sink.url, PORT: await freePort(config.HOST, config.PORT) };
    const logger = createLogger(service, { demo: true }, pino.destination({ fd: 2, sync: true }));
    const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoles(service, ['api', 'worker', 'relay'], logger), {
      bodyParser: false,
      logger: new NestPinoLogger(logger),
    });
    configureHttpApp(app, service);
    await app.listen(service.PORT, service.HOST);
    cleanup.push(() => app.close());
    const baseUrl = `http://${service.HOST === '0.0.0.0' ? '127.0.0.1' : service.HOST}:${service.PORT}`;
    say(`  service     api + worker + relay on ${baseUrl}`);
    say();

    const payload = samplePayload(taskId, repository, fake.baseUrl);
    const answer = await fetch(`${baseUrl}/api/tasks/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(service.API_TOKEN && { authorization: `Bearer ${service.API_TOKEN}` }) },
      body: JSON.stringify(payload),
    });
    say(`POST /api/tasks/execute  task ${taskId} subtask 1  → ${answer.status} ${await answer.text()}`);
    if (!answer.ok) return 1;
    say();
    say('callbacks, as executor_manager receives them (» = streamed answer text):');

    const terminal = await Promise.race([sink.terminal, done.then(() => null), timeout(RUN_TIMEOUT_MS)]);
    if (!terminal) {
      say(interrupted ? '\ninterrupted' : `\nno final callback within ${RUN_TIMEOUT_MS / 1000} s`);
      return interrupted ? 130 : 1;
    }
    say();
    say(`answer (${terminal.status}):`);
    say(`  ${String(terminal.result?.value ?? terminal.error_message ?? '').replace(/\n/g, '\n  ')}`);
    say();
    const boardUrl = board ? baseUrl.replace('://', `://${board.BOARD_USER}:${board.BOARD_PASSWORD}@`) : baseUrl;
    say(`Bull Board          ${boardUrl}/admin/queues${board ? ' (demo credentials, read-only)' : ''}`);
    say(`subtask view        ${baseUrl}/v1/tasks/${taskId}/subtasks/1`);
    say(`operator CLI        REDIS_PREFIX=${config.REDIS_PREFIX} node dist/apps/cli/src/main.js status ${taskId}`);
    if (flags['slow-second-task']) {
      const slowId = taskId + 1;
      const slowRepository = await createRepository(slowId);
      // unshift: removed last, once the service (still running this task) has stopped.
      cleanup.unshift(() => rm(new URL(slowRepository).pathname, { recursive: true, force: true }));
      cleanup.unshift(() => rm(join(resolve(config.WORKSPACE_ROOT), String(slowId)), { recursive: true, force: true }));
      fake.appendScript([
        turn([message('Let me look at the repository first.', { phase: 'commentary' }), pause(SLOW_TURN_MS), exec(COMMAND)]),
        turn([message(FINAL_ANSWER, { phase: 'final_answer' })]),
      ]);
      const second = await fetch(`${baseUrl}/api/tasks/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(service.API_TOKEN && { authorization: `Bearer ${service.API_TOKEN}` }) },
        body: JSON.stringify(samplePayload(slowId, slowRepository, fake.baseUrl)),
      });
      say(
        `\nPOST /api/tasks/execute  task ${slowId} subtask 1  → ${second.status} ${await second.text()} (slow: its model pauses ${SLOW_TURN_MS / 1000} s)`,
      );
    }
    if (STAY) {
      say('\nstill running (--stay): press Ctrl-C to stop');
      await done;
    }
    return terminal.status === 'COMPLETED' ? 0 : 1;
  } finally {
    await stop();
  }
}

/** The service's configuration from the environment, with demo defaults for what is unset. */
function demoConfig(): Config {
  const env = process.env;
  try {
    return loadConfig({
      ...env,
      REDIS_PREFIX: env.REDIS_PREFIX ?? 'wegent-codex-demo',
      WORKSPACE_ROOT: env.WORKSPACE_ROOT ?? join(DEMO_DIR, 'workspace'),
      EXECUTOR_NAME: env.EXECUTOR_NAME ?? 'wegent-codex-demo',
      LOG_LEVEL: env.LOG_LEVEL ?? 'warn',
      CALLBACK_COALESCE_MS: env.CALLBACK_COALESCE_MS ?? '150',
      // The repository is a local path, and the scripted model never needs a retry.
      ALLOW_FILE_GIT_URLS: 'true',
      CODEX_REQUEST_MAX_RETRIES: '0',
      CODEX_STREAM_MAX_RETRIES: '0',
    });
  } catch (error) {
    if (error instanceof ConfigError) throw new Error(`invalid configuration: ${error.message}`);
    throw error;
  }
}

/** REDIS_URL when something answers there; else, when REDIS_URL is unset, an embedded redis-server. */
async function ensureRedis(config: Config): Promise<EmbeddedRedis | null> {
  if (await redisAnswers(config.REDIS_URL)) return null;
  const binary = onPath('redis-server');
  if (process.env.REDIS_URL?.trim() || config.EMBEDDED_REDIS === 'never' || !binary) {
    throw new Error(
      `cannot reach Redis at ${new URL(config.REDIS_URL).host}: set REDIS_URL to a reachable Redis (6.2+)` +
        (process.env.REDIS_URL ? '' : ', or install redis-server and the demo starts one'),
    );
  }
  const embedded = await startEmbeddedRedis(binary, config.REDIS_URL);
  config.REDIS_URL = embedded.url;
  return embedded;
}

/** Two model turns: reason, say what it does, run a command; then stream the answer. */
async function startFakeModel(): Promise<FakeResponses> {
  return startFakeResponses({
    script: [
      turn([
        reasoning('The user wants a summary of the repository: read its history and README first.'),
        message('Let me look at the repository first.', { phase: 'commentary', deltaDelayMs: 60 }),
        exec(COMMAND),
      ]),
      turn([message(FINAL_ANSWER, { phase: 'final_answer', deltaDelayMs: 70 })]),
    ],
  });
}

/** A one-commit repository under .data/demo/repos, cloned by the worker through its file:// URL. */
async function createRepository(taskId: number): Promise<string> {
  const dir = join(DEMO_DIR, 'repos', `greeting-${taskId}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'README.md'), '# greeting\n\nHello from a small local repository.\n');
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Demo', '-c', 'user.email=demo@example.com', '-c', 'init.defaultBranch=main', ...args], {
      cwd: dir,
      stdio: 'pipe',
    });
  git('init', '--quiet');
  git('add', 'README.md');
  git('commit', '--quiet', '-m', 'Add a greeting');
  return `file://${dir}`;
}

/** A Wegent payload as the backend dispatches it, with the model pointed at the scripted server. */
function samplePayload(taskId: number, gitUrl: string, modelBaseUrl: string) {
  return {
    task_id: taskId,
    subtask_id: 1,
    type: 'online',
    task_title: 'Summarise the greeting repository',
    subtask_title: 'Summarise the greeting repository - Assistant',
    user: { id: 1, name: 'demo', git_login: 'demo', git_email: 'demo@example.com', git_token: null },
    bot: [
      {
        id: 1,
        name: 'codex-demo',
        shell_type: 'Codex',
        agent_config: { env: { model: 'openai', model_id: 'demo-model', api_key: 'sk-demo-not-a-real-key', base_url: modelBaseUrl } },
        system_prompt: 'You are a careful engineer. Be brief.',
        mcp_servers: {},
        skills: [],
      },
    ],
    git_url: gitUrl,
    git_repo: 'demo/greeting',
    git_domain: 'localhost',
    branch_name: 'main',
    prompt: 'What is in this repository? Is anything to fix?',
    auth_token: null,
    attachments: [],
  };
}

interface CallbackSink {
  url: string;
  /** The terminal callback (progress 100), once it arrived. */
  terminal: Promise<CallbackBody>;
  close(): Promise<void>;
}

/** Prints every callback as it arrives, with the growth of the streamed answer, and answers 200. */
async function startCallbackSink(): Promise<CallbackSink> {
  let count = 0;
  let shown = '';
  let resolveTerminal!: (body: CallbackBody) => void;
  const terminal = new Promise<CallbackBody>((r) => (resolveTerminal = r));
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"success"}');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as CallbackBody;
      count += 1;
      const value = typeof body.result?.value === 'string' ? body.result.value : '';
      let note = readableMessage(body.error_message);
      if (body.status === 'RUNNING' && value.length > shown.length && value.startsWith(shown)) {
        note = `» ${JSON.stringify(value.slice(shown.length))}`;
        shown = value;
      }
      if (body.status !== 'RUNNING') note = body.status === 'COMPLETED' ? 'done' : note;
      say(
        `  #${String(count).padEnd(3)} ${body.status.padEnd(9)} ${String(body.progress).padStart(3)}  ${note.startsWith('» ') ? note : clip(note, 110)}`,
      );
      // A step callback: what the step did (the command Codex ran, its output), as `tail` shows it.
      const steps = Array.isArray(body.result?.thinking) ? (body.result.thinking as ThinkingStep[]) : [];
      if (note.startsWith('Thinking:') && steps.length) {
        const step = steps[steps.length - 1];
        for (const line of describeStep(step).filter((l) => l !== `· ${step.title}`)) say(`${' '.repeat(21)}${line}`);
      }
      if (body.progress === 100) resolveTerminal(body);
    });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${SINK_PATH}`,
    terminal,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** `preferred` when it is free on `host`, else any free port. */
async function freePort(host: string, preferred: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | null>((r) => {
      const probe = createNetServer();
      probe.once('error', () => r(null));
      probe.listen(port, host, () => {
        const { port: bound } = probe.address() as AddressInfo;
        probe.close(() => r(bound));
      });
    });
  return (await tryPort(preferred)) ?? (await tryPort(0))!;
}

function timeout(ms: number): Promise<null> {
  return new Promise((r) => setTimeout(() => r(null), ms).unref());
}

function redactUrl(raw: string): string {
  const url = new URL(raw);
  if (url.password) url.password = '***';
  return url.toString();
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
