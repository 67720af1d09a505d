import { isTerminalEvent, type NewTaskEvent, type RpcNotification } from '@wegent-codex/contracts';
import type { TurnOutcome } from '@wegent-codex/codex';
import type { Logger } from '@wegent-codex/runtime';
import type { RunEvent } from './run-event';

/** The mapper of one turn (NotificationMapper): notifications in, events out. */
export interface TurnMapper {
  handle(method: string, params: unknown): NewTaskEvent[];
  readonly outcome: TurnOutcome | undefined;
  readonly turnId: string | undefined;
}

/** Where the pump's events go, and what it asks before the terminal one. */
export interface PumpSink {
  emit(event: RunEvent): Promise<unknown>;
  /** Asked before the terminal event: a per-run limit that fired ends the run instead (a command killed at a limit may still let the turn complete). */
  limitHit(): Promise<boolean>;
  /** Called right before the terminal event (the workbench's last refresh). */
  beforeTerminal(): Promise<void>;
}

const strip = (event: NewTaskEvent): RunEvent => {
  const { task_id: _t, subtask_id: _s, attempt: _a, ...rest } = event;
  return rest as RunEvent;
};

/**
 * Turns the notifications of one Codex process into the run's events, in arrival order, one append
 * at a time. Notifications that arrive before the turn is known (the process starts talking at
 * once) wait in the early buffer and go first. The first terminal event ends the stream: a second
 * one (a duplicate `turn/completed`, a late failure) and anything after it are dropped.
 */
export class NotificationPump {
  readonly finished: Promise<void>;
  /** Codex reported the turn interrupted. */
  readonly interrupted: Promise<void>;
  private resolveFinished!: () => void;
  private resolveInterrupted!: () => void;
  private mapper?: TurnMapper;
  private readonly early: RpcNotification[] = [];
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private terminalSeen = false;
  private terminalAppended = false;

  constructor(
    private readonly sink: PumpSink,
    private readonly log: Logger,
  ) {
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.interrupted = new Promise((resolve) => (this.resolveInterrupted = resolve));
  }

  /** The process's notification handler, from its first line on. */
  readonly receive = (notification: RpcNotification): void => {
    if (this.mapper) this.forward(notification);
    else this.early.push(notification);
  };

  /** The turn is known: the early buffer is mapped first, then every live notification. */
  start(mapper: TurnMapper): void {
    this.mapper = mapper;
    for (const notification of this.early.splice(0)) this.forward(notification);
  }

  /** Nothing more is appended (a cancel or a failure ends the run; a late `turn/completed` loses). */
  stop(): void {
    this.stopped = true;
  }

  /** Resolves when every event handed on so far is appended; rejects with a failed append. */
  settled(): Promise<void> {
    return this.chain;
  }

  /** True once the turn's terminal event is in the log. */
  get ended(): boolean {
    return this.terminalAppended;
  }

  /** The turn as Codex last named it (for an interrupt). */
  get turnId(): string | undefined {
    return this.mapper?.turnId;
  }

  private forward(notification: RpcNotification): void {
    const mapper = this.mapper!;
    const events = mapper.handle(notification.method, notification.params).map(strip);
    if (mapper.outcome === 'interrupted') this.resolveInterrupted();
    // Chained on the previous appends: one failed append stops the stream (settled() rejects with it).
    if (events.length) this.chain = this.chain.then(() => this.deliver(events));
  }

  private async deliver(events: RunEvent[]): Promise<void> {
    for (const event of events) {
      if (this.stopped || this.terminalSeen) return;
      if (!isTerminalEvent(event)) {
        await this.sink.emit(event);
        continue;
      }
      this.terminalSeen = true;
      if (await this.sink.limitHit().catch(() => false)) return;
      await this.sink.beforeTerminal().catch((error: unknown) => this.log.warn({ err: String(error) }, 'workbench refresh failed'));
      await this.sink.emit(event);
      this.terminalAppended = true;
      this.resolveFinished();
    }
  }
}
