import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { LoggerService } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig, type Config, type NewTaskEvent } from '@wegent-codex/contracts';
import { REDIS, RuntimeModule, type Logger } from '@wegent-codex/runtime';
import { ApiModule } from '../../apps/api/src';
import type { ApiModuleOptions } from '../../apps/api/src';
import { configureHttpApp } from '../../apps/api/src';
import { EXAMPLE_SECRETS, examplePayload } from './wegent-payload';

export { EXAMPLE_SECRETS, examplePayload };

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
  const config = loadConfig({
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: prefix,
    LOG_LEVEL: 'debug',
    ...env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);

  const moduleRef = await Test.createTestingModule({
    imports: [RuntimeModule.forRoot(config, logger), ApiModule.forRoot(options ?? {})],
  }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false, logger: new NestToPino(logger) });
  configureHttpApp(app, config);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  // A test starts talking to the api at once: /readyz rightly says "redis is not connected" while
  // the api's own connection is still connecting, which is not what the tests ask about.
  const appRedis = app.get<Redis>(REDIS);
  await eventually(() => appRedis.status === 'ready', "the api's Redis connection to be ready", 10_000);
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

/** A successful run of one subtask as a worker logs it: started, two answer chunks, done. */
export function exampleRun(task_id: number, subtask_id: number): NewTaskEvent[] {
  const context = {
    task_title: 'Fix login bug',
    subtask_title: 'Fix login bug - Assistant',
    task_type: 'online',
    git_repo: '',
    git_domain: '',
    branch_name: '',
    prompt: 'hi',
  };
  return [
    { type: 'status', phase: 'started', context, task_id, subtask_id, attempt: 1 },
    { type: 'chunk', item_id: 'msg-1', text: 'Fixed ', task_id, subtask_id, attempt: 1 },
    { type: 'chunk', item_id: 'msg-1', text: 'it.', task_id, subtask_id, attempt: 1 },
    { type: 'done', value: 'Fixed it.', task_id, subtask_id, attempt: 1 },
  ];
}

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
