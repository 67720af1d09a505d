import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { isTerminalEvent, type StoredEvent } from '@wegent-codex/contracts';
import { EventLogRepository, RedisKeys } from '@wegent-codex/event-log';
import { LOGGER, REDIS, type Logger } from '@wegent-codex/runtime';
import { RESOLVED_API_OPTIONS, type ResolvedApiOptions } from './api-options';
import { ApiError } from './http/api-error';
import type { HttpResponse } from './http/http-types';
import { SubtaskQueryService } from './subtask-query.service';

/** Events replayed per XRANGE while catching up. */
const REPLAY_PAGE = 500;
/** A client that reads nothing for this long while the socket buffer is full is dropped. */
const DRAIN_TIMEOUT_MS = 60_000;

interface Subscriber {
  task_id: number;
  subtask_id: number;
  res: HttpResponse;
  closed: boolean;
  /** Dedicated connection for the blocking live tail (never the shared command connection). */
  tail?: Redis;
}

/**
 * Server-sent events of one subtask's log: replay from a cursor, then a live tail until the
 * terminal event, which ends the stream. Each subscriber holds one Redis connection while it
 * tails; the number of subscribers per process is capped (503 above the cap), and a client that
 * goes away releases its connection at once.
 */
@Injectable()
export class EventStreamService implements OnModuleDestroy {
  private readonly subscribers = new Set<Subscriber>();
  private readonly logger: Logger;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly events: EventLogRepository,
    private readonly keys: RedisKeys,
    private readonly query: SubtaskQueryService,
    @Inject(RESOLVED_API_OPTIONS) private readonly options: ResolvedApiOptions,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'api-sse' });
  }

  /** Open streams of this process. */
  get active(): number {
    return this.subscribers.size;
  }

  /**
   * Streams events after `after` ("0": from the start). Throws ApiError (404, 503) only before
   * the stream started; afterwards every failure just ends the stream.
   */
  async serve(res: HttpResponse, taskId: number, subtaskId: number, after: string): Promise<void> {
    if (this.subscribers.size >= this.options.maxStreamSubscribers) {
      throw ApiError.unavailable(`too many event stream subscribers (limit ${this.options.maxStreamSubscribers}); retry later`);
    }
    const sub: Subscriber = { task_id: taskId, subtask_id: subtaskId, res, closed: false };
    this.subscribers.add(sub);
    const onClose = () => this.close(sub);
    res.once('close', onClose);
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      await this.query.assertExists(taskId, subtaskId);
      if (sub.closed) return;
      res.status(200);
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.setHeader('Cache-Control', 'no-cache, no-transform');
      res.setHeader('Connection', 'keep-alive');
      res.setHeader('X-Accel-Buffering', 'no');
      res.flushHeaders();
      res.socket?.setNoDelay(true);
      heartbeat = setInterval(() => {
        if (!sub.closed) res.write(': heartbeat\n\n');
      }, this.options.streamHeartbeatMs);

      let cursor = after;
      // Read before the replay: a log that was finished then is complete once replayed, even when
      // the cursor is already past its terminal event.
      const finishedBefore = (await this.events.terminalOf(taskId, subtaskId)) !== null;
      for (;;) {
        const page = await this.events.read(taskId, subtaskId, cursor, REPLAY_PAGE);
        for (const stored of page) {
          if (!(await this.send(sub, stored)) || isTerminalEvent(stored.event)) return;
          cursor = stored.id;
        }
        if (page.length < REPLAY_PAGE) break;
      }
      if (finishedBefore || sub.closed) return;

      // No ready check: it only delays the first read, and a disconnect during it makes ioredis
      // linger on the closed socket.
      sub.tail = this.redis.duplicate({ connectionName: `wegent-codex:sse:${this.keys.prefix}`, enableReadyCheck: false });
      sub.tail.on('error', (error: Error) =>
        this.logger.debug({ task_id: taskId, subtask_id: subtaskId, err: error.message }, 'tail connection error'),
      );
      while (!sub.closed) {
        const batch = await this.events.waitFor(sub.tail, taskId, subtaskId, cursor, this.options.streamBlockMs);
        for (const stored of batch) {
          if (!(await this.send(sub, stored)) || isTerminalEvent(stored.event)) return;
          cursor = stored.id;
        }
      }
    } catch (error) {
      // A client that left made its tail connection reject the pending read: nothing to report.
      if (sub.closed) return;
      // Before the stream started (404, Redis away): answered as JSON by the exception filter.
      if (!res.headersSent) throw error;
      this.logger.warn(
        { task_id: taskId, subtask_id: subtaskId, err: error instanceof Error ? error.message : String(error) },
        'event stream ended by an error',
      );
    } finally {
      clearInterval(heartbeat);
      res.off('close', onClose);
      this.close(sub);
    }
  }

  onModuleDestroy(): void {
    for (const sub of [...this.subscribers]) this.close(sub);
  }

  /** One SSE frame; false once the client is gone. */
  private async send(sub: Subscriber, stored: StoredEvent): Promise<boolean> {
    if (sub.closed) return false;
    const frame = `id: ${stored.id}\nevent: ${stored.event.type}\ndata: ${JSON.stringify(stored.event)}\n\n`;
    if (!sub.res.write(frame)) await this.drained(sub);
    return !sub.closed;
  }

  private drained(sub: Subscriber): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sub.res.off('drain', done);
        sub.res.off('close', done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.logger.info({ task_id: sub.task_id, subtask_id: sub.subtask_id }, 'event stream client stopped reading; dropped');
        this.close(sub);
        done();
      }, DRAIN_TIMEOUT_MS);
      sub.res.once('drain', done);
      sub.res.once('close', done);
    });
  }

  private close(sub: Subscriber): void {
    if (!this.subscribers.delete(sub)) return;
    sub.closed = true;
    sub.tail?.disconnect();
    // Before the headers went out the response still belongs to the exception filter.
    if (sub.res.headersSent && !sub.res.writableEnded) sub.res.end();
  }
}
