import { exec, hang, message, turn, type FakeResponses, type RecordedRequest, type Turn } from '../../test/fixtures/fake-responses';

/**
 * What the scripted fake model answers in each scenario. Many tasks run at once against one fake,
 * so the answers are stateless functions of the request (never a queue of turns), and each task's
 * prompt carries a marker so the fake can tell which task a request belongs to.
 */

/** The scripted turn of the overhead and throughput scenarios (as in the pipeline e2e test). */
export const COMMAND = "printf 'hello from codex' > result.txt && cat result.txt";
export const FINAL_ANSWER = 'I wrote result.txt with a greeting for you. All done now.';

export const taskMarker = (taskId: number): string => `[bench-task-${taskId}]`;

export function taskOf(request: RecordedRequest): number | undefined {
  const all = [...JSON.stringify(request.body?.input ?? '').matchAll(/\[bench-task-(\d+)\]/g)];
  return all.length ? Number(all[all.length - 1][1]) : undefined;
}

const hasToolOutput = (request: RecordedRequest): boolean =>
  Array.isArray(request.body?.input) && (request.body.input as { type?: string }[]).some((item) => item?.type === 'function_call_output');

/** One command, then the final answer once the command's output came back (2 model requests). */
export function commandThenAnswer(request: RecordedRequest): Turn {
  return hasToolOutput(request) ? turn([message(FINAL_ANSWER, { phase: 'final_answer' })]) : turn([exec(COMMAND)]);
}

/** A long final answer streamed word by word, `deltaDelayMs` apart. */
export function streamedAnswer(text: string, deltaDelayMs: number): () => Turn {
  return () => turn([message(text, { phase: 'final_answer', deltaDelayMs })]);
}

/** The model starts answering and then never finishes: the job stays running until cancelled. */
export function hangingTurn(): Turn {
  return hang([message('Working on it.', { phase: 'commentary' })]);
}

/** `words` words of plain prose (deterministic). */
export function prose(words: number): string {
  const vocabulary = [
    'the',
    'worker',
    'streams',
    'each',
    'answer',
    'to',
    'a',
    'relay',
    'which',
    'folds',
    'events',
    'into',
    'callbacks',
    'for',
    'executor',
    'manager',
    'while',
    'codex',
    'keeps',
    'thinking',
  ];
  const out: string[] = [];
  for (let i = 0; i < words; i += 1) out.push(vocabulary[(i * 7 + Math.floor(i / 3)) % vocabulary.length]);
  return `${out.join(' ')}.`;
}

/**
 * Installs `answer` as the fake's answer to every request and records, per task, when each of its
 * model requests arrived (Date.now()).
 */
export function scriptModel(fake: FakeResponses, answer: (request: RecordedRequest) => Turn): Map<number, number[]> {
  const arrivals = new Map<number, number[]>();
  fake.reset();
  fake.setDefaultTurn((request) => {
    const taskId = taskOf(request);
    if (taskId !== undefined) arrivals.set(taskId, [...(arrivals.get(taskId) ?? []), Date.now()]);
    return answer(request);
  });
  return arrivals;
}
