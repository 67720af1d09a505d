import type { ResponsesCallback } from '@wegent-codex/contracts';
import type { PlannedCallback } from './callback-fold';
import { codePoints, MAX_MERGED_DELTA_LENGTH, mergeDeltas } from './responses-fold';

/** Written out as the 2026 fold plans them (responses-fold.ts), not built by it. */
const envelope = { task_id: 4711, subtask_id: 9902, message_id: 2, executor_name: 'wegent-task-alice-1' };

const text = (eventId: string, seq: number, delta: string, offset: number): PlannedCallback<ResponsesCallback> => ({
  eventId,
  seq,
  kind: 'delta',
  body: {
    event_type: 'response.output_text.delta',
    ...envelope,
    data: { type: 'response.output_text.delta', item_id: 'msg_9902', output_index: 0, content_index: 0, delta, offset },
  },
});

const reasoning = (eventId: string, seq: number, delta: string, item = 'rs_1'): PlannedCallback<ResponsesCallback> => ({
  eventId,
  seq,
  kind: 'delta',
  body: {
    event_type: 'response.reasoning_summary_text.delta',
    ...envelope,
    data: { type: 'response.reasoning_summary_text.delta', item_id: item, output_index: 0, summary_index: 0, delta },
  },
});

describe('mergeDeltas: queued 2026 deltas as one (docs/protocol/wegent-protocol-2026.md §3.7)', () => {
  it('answer deltas with contiguous offsets: one delta, the first offset and envelope, the last event id, the first event remembered', () => {
    expect(mergeDeltas(text('5-0', 5, 'Looking ', 0), text('6-0', 6, 'at the 完成', 8))).toEqual({
      eventId: '6-0',
      seq: 6,
      kind: 'delta',
      firstEventId: '5-0',
      textEnd: 17, // 8 + the 9 code points of 'at the 完成'
      body: {
        event_type: 'response.output_text.delta',
        task_id: 4711,
        subtask_id: 9902,
        message_id: 2,
        executor_name: 'wegent-task-alice-1',
        data: {
          type: 'response.output_text.delta',
          item_id: 'msg_9902',
          output_index: 0,
          content_index: 0,
          delta: 'Looking at the 完成',
          offset: 0,
        },
      },
    });
  });

  it('a third delta keeps the first event of the chain, and offsets count code points, not UTF-16 units', () => {
    const two = mergeDeltas(text('5-0', 5, 'a✅', 10), text('6-0', 6, '😀', 12));
    expect(two).toMatchObject({ firstEventId: '5-0', textEnd: 13, body: { data: { delta: 'a✅😀', offset: 10 } } });
    // '😀' is two UTF-16 units but one code point: the next delta starts at 13.
    expect(mergeDeltas(two!, text('7-0', 7, ' ok', 13))).toMatchObject({
      eventId: '7-0',
      firstEventId: '5-0',
      textEnd: 16,
      body: { data: { delta: 'a✅😀 ok', offset: 10 } },
    });
    expect(mergeDeltas(two!, text('7-0', 7, ' ok', 14))).toBeUndefined();
  });

  it('a long chain of one-character deltas (every tenth astral) is one delta whose end is counted in code points', () => {
    let merged: PlannedCallback<ResponsesCallback> = text('1-0', 1, '😀', 0);
    for (let n = 1; n < 2000; n += 1) merged = mergeDeltas(merged, text(`${n + 1}-0`, n + 1, n % 10 === 0 ? '😀' : 'é', n))!;
    expect(merged).toMatchObject({ eventId: '2000-0', firstEventId: '1-0', textEnd: 2000, body: { data: { offset: 0 } } });
    const delta = (merged.body.data as { delta: string }).delta;
    expect(delta.length).toBe(2200); // 200 astral characters are 2 UTF-16 units each
    expect(mergeDeltas(merged, text('2001-0', 2001, '!', 2000))).toMatchObject({ textEnd: 2001 });
    expect(mergeDeltas(merged, text('2001-0', 2001, '!', 2200))).toBeUndefined();
  });

  it('not when the second does not start where the first ends (a gap or an overlap)', () => {
    expect(mergeDeltas(text('5-0', 5, 'abc', 0), text('6-0', 6, 'd', 4))).toBeUndefined();
    expect(mergeDeltas(text('5-0', 5, 'abc', 0), text('6-0', 6, 'd', 2))).toBeUndefined();
    const noOffset = (callback: PlannedCallback<ResponsesCallback>): PlannedCallback<ResponsesCallback> => ({
      ...callback,
      body: { ...callback.body, data: { ...callback.body.data, offset: undefined } },
    });
    expect(mergeDeltas(noOffset(text('5-0', 5, 'abc', 0)), text('6-0', 6, 'd', 3))).toBeUndefined();
    expect(mergeDeltas(text('5-0', 5, 'abc', 0), noOffset(text('6-0', 6, 'd', 3)))).toBeUndefined();
  });

  it('reasoning deltas of the same item merge; of another item, or next to answer text, they do not', () => {
    // Strict: a reasoning delta has no offset, so no `textEnd` key either.
    expect(mergeDeltas(reasoning('5-0', 5, 'Plan: '), reasoning('6-0', 6, 'read it.'))).toStrictEqual({
      eventId: '6-0',
      seq: 6,
      kind: 'delta',
      firstEventId: '5-0',
      body: {
        event_type: 'response.reasoning_summary_text.delta',
        ...envelope,
        data: {
          type: 'response.reasoning_summary_text.delta',
          item_id: 'rs_1',
          output_index: 0,
          summary_index: 0,
          delta: 'Plan: read it.',
        },
      },
    });
    expect(mergeDeltas(reasoning('5-0', 5, 'Plan: '), reasoning('6-0', 6, '\n\nNext.', 'rs_2'))).toBeUndefined();
    expect(mergeDeltas(reasoning('5-0', 5, 'Plan: '), text('6-0', 6, 'Hi', 0))).toBeUndefined();
    expect(mergeDeltas(text('5-0', 5, 'Hi', 0), reasoning('6-0', 6, 'Plan'))).toBeUndefined();
    // Even with the same item id: the event types differ.
    expect(mergeDeltas(reasoning('5-0', 5, 'Plan', 'msg_9902'), text('6-0', 6, 'Hi', 0))).toBeUndefined();
    expect(mergeDeltas(text('5-0', 5, 'Hi', 0), reasoning('6-0', 6, 'Plan', 'msg_9902'))).toBeUndefined();
  });

  it('only answer and reasoning deltas, only as the fold planned them (kind delta), only with text in both', () => {
    const other = (eventId: string, seq: number, delta: string): PlannedCallback<ResponsesCallback> => ({
      eventId,
      seq,
      kind: 'delta',
      body: {
        event_type: 'response.function_call_arguments.delta',
        ...envelope,
        data: { type: 'response.function_call_arguments.delta', item_id: 'call_1', delta },
      },
    });
    expect(mergeDeltas(other('5-0', 5, '{"a"'), other('6-0', 6, ':1}'))).toBeUndefined();
    // A delta-shaped body the fold did not plan as a delta (kind) is left alone, whichever side it is on.
    expect(mergeDeltas({ ...text('5-0', 5, 'abc', 0), kind: 'status' }, text('6-0', 6, 'd', 3))).toBeUndefined();
    expect(mergeDeltas(text('5-0', 5, 'abc', 0), { ...text('6-0', 6, 'd', 3), kind: 'status' })).toBeUndefined();
    const noText = (callback: PlannedCallback<ResponsesCallback>): PlannedCallback<ResponsesCallback> => ({
      ...callback,
      body: { ...callback.body, data: { ...callback.body.data, delta: undefined } },
    });
    expect(mergeDeltas(noText(reasoning('5-0', 5, 'Plan')), reasoning('6-0', 6, 'more'))).toBeUndefined();
    expect(mergeDeltas(reasoning('5-0', 5, 'Plan'), noText(reasoning('6-0', 6, 'more')))).toBeUndefined();
  });

  it('never across subtasks, and never anything but two deltas', () => {
    const other = text('6-0', 6, 'x', 3);
    expect(mergeDeltas(text('5-0', 5, 'abc', 0), { ...other, body: { ...other.body, subtask_id: 9903 } })).toBeUndefined();
    expect(mergeDeltas(text('5-0', 5, 'abc', 0), { ...other, body: { ...other.body, task_id: 4712 } })).toBeUndefined();
    const block: PlannedCallback<ResponsesCallback> = {
      eventId: '6-0',
      seq: 6,
      kind: 'block',
      body: { event_type: 'response.block.updated', ...envelope, data: { type: 'response.block.updated', block_id: 'c1', updates: {} } },
    };
    expect(mergeDeltas(text('5-0', 5, 'abc', 0), block)).toBeUndefined();
    expect(mergeDeltas(block, text('7-0', 7, 'abc', 0))).toBeUndefined();
    // One callback of an event that has more (2026 blocks): the cursor must stop after its event.
    expect(mergeDeltas({ ...text('5-0', 5, 'abc', 0), moreOfEvent: true }, text('6-0', 6, 'd', 3))).toBeUndefined();
    expect(mergeDeltas(text('5-0', 5, 'abc', 0), { ...text('6-0', 6, 'd', 3), part: 1 })).toBeUndefined();
  });

  it(`stops at ${MAX_MERGED_DELTA_LENGTH} characters: a backlog goes out in pieces`, () => {
    expect(MAX_MERGED_DELTA_LENGTH).toBe(32_768);
    const big = 'x'.repeat(32_000);
    expect(mergeDeltas(text('5-0', 5, big, 0), text('6-0', 6, 'y'.repeat(768), 32_000))).toMatchObject({
      body: { data: { offset: 0 } },
    });
    expect(mergeDeltas(text('5-0', 5, big, 0), text('6-0', 6, 'y'.repeat(769), 32_000))).toBeUndefined();
  });
});

describe('codePoints (the unit of a delta offset)', () => {
  it.each([
    ['', 0],
    ['plain ascii', 11],
    ['完成了', 3],
    ['😀', 1], // a surrogate pair
    ['a😀b🎉', 4],
    ['\ud83d', 1], // a lone high surrogate
    ['\ude00', 1], // a lone low surrogate
    ['\ude00\ud83d', 2], // low before high: no pair
    ['\ud83d\ud83d\ude00', 2], // a lone high, then a pair
    ['x\ud83d', 2], // a high surrogate last
  ])('%j has %i', (text, expected) => {
    expect(codePoints(text)).toBe(expected);
  });
});
