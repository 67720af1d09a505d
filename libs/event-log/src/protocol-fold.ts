import { protocolOf, type CallbackBody, type ResponsesCallback, type StoredEvent, type WegentProtocol } from '@wegent-codex/contracts';
import { CallbackFolder, type FoldOptions, type PlannedCallback } from './callback-fold';
import { ResponsesFolder } from './responses-fold';

/**
 * One subtask's fold, whichever protocol generation took it: the first event decides — the run's
 * `started` context, or the `protocol` of a terminal written before any run began (cancelled while
 * queued) — and everything after goes to that generation's fold. Both generations run side by side
 * on the same workers and relays (wegent-protocol-2026.md; the 2025 fold is unchanged).
 */
export class ProtocolFold {
  private folder?: { protocol: '2025'; fold: CallbackFolder } | { protocol: '2026'; fold: ResponsesFolder };

  constructor(
    private readonly taskId: number,
    private readonly subtaskId: number,
    private readonly options: FoldOptions = {},
  ) {}

  /** Undefined until the first event of this subtask was folded. */
  get protocol(): WegentProtocol | undefined {
    return this.folder?.protocol;
  }

  get finished(): boolean {
    return this.folder?.fold.finished ?? false;
  }

  apply(stored: StoredEvent): PlannedCallback<CallbackBody | ResponsesCallback>[] {
    const { event } = stored;
    if (event.task_id !== this.taskId || event.subtask_id !== this.subtaskId) return [];
    this.folder ??= this.choose(stored);
    if (this.folder.protocol === '2026') return this.folder.fold.apply(stored);
    const callback = this.folder.fold.apply(stored);
    return callback ? [callback] : [];
  }

  private choose({ event }: StoredEvent): NonNullable<ProtocolFold['folder']> {
    const declared = event.type === 'status' ? event.context : event.type === 'cancelled' || event.type === 'error' ? event : undefined;
    return protocolOf(declared) === '2026'
      ? { protocol: '2026', fold: new ResponsesFolder(this.taskId, this.subtaskId, this.options) }
      : { protocol: '2025', fold: new CallbackFolder(this.taskId, this.subtaskId, this.options) };
  }
}
