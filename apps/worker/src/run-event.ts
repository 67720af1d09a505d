import type { NewTaskEvent } from '@wegent-codex/contracts';

type Body<T> = T extends unknown ? Omit<T, 'task_id' | 'subtask_id' | 'attempt'> : never;
/** An event of the run as the worker makes it: the emitter stamps the run's ids on append. */
export type RunEvent = Body<NewTaskEvent>;
