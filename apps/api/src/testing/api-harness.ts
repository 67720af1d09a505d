import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { LoggerService } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig, type Config, type NewTaskEvent } from '../../../../libs/contracts/src';
import { RuntimeModule, type Logger } from '../../../../libs/runtime/src';
import { ApiModule } from '../api.module';
import type { ApiModuleOptions } from '../api-options';
import { configureHttpApp } from '../http-app';

/**
 * The api as the composition root builds it, on port 0, against the real Redis under a prefix of
 * its own. Every log line — pino's and Nest's — is kept in `logs` so a test can search them.
 */
export interface ApiHarness {
  app: NestExpressApplication;
  config: Config;
  prefix: string;
  baseUrl: string;
  /** A connection of the test's own, for assertions. */
  redis: Redis;
  logs: string[];
  /** Every key under the prefix (SCAN). */
  keys(): Promise<string[]>;
  /** Closes the app, deletes every key under the prefix. */
  close(): Promise<void>;
}

export async function startApi(env: Record<string, string> = {}, options?: ApiModuleOptions): Promise<ApiHarness> {
  const prefix = `test-api-${randomBytes(5).toString('hex')}`;
  const config = loadConfig({ REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', REDIS_PREFIX: prefix, LOG_LEVEL: 'debug', ...env });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);

  const moduleRef = await Test.createTestingModule({
    imports: [RuntimeModule.forRoot(config, logger), options ? ApiModule.forRoot(options) : ApiModule],
  }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false, logger: new NestToPino(logger) });
  configureHttpApp(app, config);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1 });

  const keys = async () => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      found.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return found;
  };

  return {
    app,
    config,
    prefix,
    baseUrl: `http://127.0.0.1:${port}`,
    redis,
    logs,
    keys,
    async close() {
      await app.close();
      const left = await keys();
      if (left.length) await redis.del(...left);
      await redis.quit();
    },
  };
}

class NestToPino implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown) {
    this.logger.info({ context: 'nest' }, String(message));
  }
  error(message: unknown, trace?: string) {
    this.logger.error({ context: 'nest', trace }, String(message));
  }
  warn(message: unknown) {
    this.logger.warn({ context: 'nest' }, String(message));
  }
}

/** Polls `check` every 20 ms until it holds; fails after `timeoutMs` with `what`. */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The full Codex payload of wegent-protocol.md §2.9, with ids to choose. */
export function examplePayload(taskId = 305, subtaskId = 812): Record<string, unknown> {
  return {
    subtask_id: subtaskId,
    subtask_next_id: null,
    task_id: taskId,
    type: 'online',
    executor_name: '',
    executor_namespace: '',
    subtask_title: 'Fix login bug - Assistant',
    task_title: 'Fix login bug',
    user: {
      id: 7,
      name: 'alice',
      git_domain: 'github.com',
      git_token: EXAMPLE_SECRETS.gitToken,
      git_id: '123456',
      git_login: 'alice-gh',
      git_email: null,
      user_name: 'alice-gh',
    },
    bot: [
      {
        id: 41,
        name: 'codex-developer',
        shell_type: 'Codex',
        agent_config: {
          env: {
            model: 'openai',
            model_id: 'gpt-5.5',
            api_key: EXAMPLE_SECRETS.apiKey,
            base_url: 'https://llm-gateway.example.com/v1',
            custom_headers: { 'X-Team': 'platform' },
          },
        },
        system_prompt: 'You are a senior software engineer. Work in small, tested steps.\nFocus on the login flow.',
        mcp_servers: {
          mcpServers: {
            github: {
              command: 'docker',
              args: ['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN', 'ghcr.io/github/github-mcp-server'],
              env: { GITHUB_PERSONAL_ACCESS_TOKEN: '${{user.git_token}}' },
            },
            docs: { type: 'streamable-http', url: 'https://mcp.example.com/mcp', headers: { 'X-User': '${{user.name}}' } },
          },
        },
        skills: ['wiki_submit'],
        role: '',
        base_image: null,
      },
    ],
    team_id: 22,
    mode: 'solo',
    git_domain: 'github.com',
    git_repo: 'alice/app',
    git_repo_id: 998877,
    branch_name: 'main',
    git_url: 'https://github.com/alice/app.git',
    prompt: 'Please fix the login bug shown in [attachment:55]',
    auth_token: EXAMPLE_SECRETS.authToken,
    attachments: [{ id: 55, original_filename: 'screenshot.png', file_extension: '.png', file_size: 20480, mime_type: 'image/png' }],
    status: 'RUNNING',
    progress: 0,
    created_at: '2025-12-30T10:00:00',
    updated_at: '2025-12-30T10:00:01',
  };
}

/** A successful run of one subtask as a worker logs it: started, two answer chunks, done. */
export function exampleRun(task_id: number, subtask_id: number): NewTaskEvent[] {
  const context = { task_title: 'Fix login bug', subtask_title: 'Fix login bug - Assistant', task_type: 'online', git_repo: '', git_domain: '', branch_name: '', prompt: 'hi' };
  return [
    { type: 'status', phase: 'started', context, task_id, subtask_id, attempt: 1 },
    { type: 'chunk', item_id: 'msg-1', text: 'Fixed ', task_id, subtask_id, attempt: 1 },
    { type: 'chunk', item_id: 'msg-1', text: 'it.', task_id, subtask_id, attempt: 1 },
    { type: 'done', value: 'Fixed it.', task_id, subtask_id, attempt: 1 },
  ];
}

export const EXAMPLE_SECRETS = {
  apiKey: 'sk-proj-EXAMPLEONLY',
  gitToken: 'q3ZxK1u0b9cM2l5eH0vW8A==',
  authToken:
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInVzZXJfaWQiOjcsImV4cCI6MTc2NzE2MDAwMH0.c2lnbmF0dXJl',
} as const;

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** One server-sent frame: an event (id/event/data) or a comment line such as a heartbeat. */
export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

export interface EventStreamClient {
  response: Response;
  /** The next frame, comments included; null once the server ended the stream. */
  nextFrame(timeoutMs?: number): Promise<SseFrame | null>;
  /** The next event frame (comments skipped); null once the server ended the stream. */
  nextEvent(timeoutMs?: number): Promise<SseFrame | null>;
  /** Disconnects, as a browser closing the tab does. */
  close(): void;
}

export async function openEventStream(url: string, headers: Record<string, string> = {}): Promise<EventStreamClient> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let ended = false;

  const nextFrame = async (timeoutMs = 5_000): Promise<SseFrame | null> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const cut = buffer.indexOf('\n\n');
      if (cut >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        return parseFrame(block);
      }
      if (ended) return null;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no SSE frame within ${timeoutMs} ms`)), Math.max(0, until - Date.now()));
      });
      try {
        const chunk = await Promise.race([reader.read(), late]);
        if (chunk.done) ended = true;
        else buffer += decoder.decode(chunk.value, { stream: true });
      } finally {
        clearTimeout(timer);
      }
    }
  };

  return {
    response,
    nextFrame,
    async nextEvent(timeoutMs = 5_000) {
      for (;;) {
        const frame = await nextFrame(timeoutMs);
        if (frame === null || frame.comment === undefined) return frame;
      }
    },
    close: () => abort.abort(),
  };
}

function parseFrame(block: string): SseFrame {
  const frame: SseFrame = {};
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) frame.comment = line.slice(1).trim();
    const match = /^(id|event|data): ?(.*)$/.exec(line);
    if (match) frame[match[1] as 'id' | 'event' | 'data'] = match[2];
  }
  return frame;
}
