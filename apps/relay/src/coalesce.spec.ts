import type { CallbackKind, PlannedCallback } from '@wegent-codex/event-log';
import { planSends } from './coalesce';

let seq = 0;
/** `terminal` is a COMPLETED (with a result); `cancelled` a result-less CANCELLED. */
function cb(kind: CallbackKind | 'cancelled'): PlannedCallback {
  seq += 1;
  const withResult = kind !== 'cancelled';
  return {
    eventId: `1700000000000-${seq}`,
    seq,
    kind: kind === 'cancelled' ? 'terminal' : kind,
    body: {
      task_id: 1,
      subtask_id: 2,
      task_title: 't',
      subtask_title: 's',
      progress: kind === 'terminal' || kind === 'cancelled' ? 100 : 75,
      status: kind === 'terminal' ? 'COMPLETED' : kind === 'cancelled' ? 'CANCELLED' : 'RUNNING',
      ...(withResult && { result: { value: 'x'.repeat(seq), thinking: [] } }),
    },
  };
}

const kinds = (list: PlannedCallback[]) => list.map((c) => c.kind);
const NOW = 10_000;

describe('planSends', () => {
  beforeEach(() => {
    seq = 0;
  });

  it.each([
    { name: 'text before text is dropped', batch: ['text', 'text', 'text'], send: ['text'], superseded: 3 - 1 },
    { name: 'text before a step is dropped', batch: ['milestone', 'text', 'step'], send: ['milestone', 'step'], superseded: 1 },
    {
      name: 'steps and milestones are never dropped',
      batch: ['milestone', 'step', 'step', 'milestone'],
      send: ['milestone', 'step', 'step', 'milestone'],
      superseded: 0,
    },
    { name: 'text before COMPLETED is dropped', batch: ['step', 'text', 'text', 'terminal'], send: ['step', 'terminal'], superseded: 2 },
    { name: 'text before a validation callback is kept', batch: ['text', 'validation'], send: ['text', 'validation'], superseded: 0 },
  ])('$name', ({ batch, send, superseded }) => {
    const plan = planSends(
      batch.map((k) => cb(k as CallbackKind)),
      { lastSentAt: undefined, now: NOW, coalesceMs: 300 },
    );
    expect(kinds(plan.send)).toEqual(send);
    expect(plan.superseded).toHaveLength(superseded);
    expect(plan.held).toBeUndefined();
  });

  it('keeps the last text before a result-less CANCELLED (BE keeps the last result)', () => {
    const batch = [cb('text'), cb('text'), cb('cancelled')];
    const plan = planSends(batch, { lastSentAt: NOW, now: NOW, coalesceMs: 300 });
    expect(plan.send).toEqual([batch[1], batch[2]]);
    expect(plan.superseded).toEqual([batch[0]]);
  });

  it('never plans anything after the first terminal callback', () => {
    const batch = [cb('step'), cb('terminal'), cb('text'), cb('terminal')];
    const plan = planSends(batch, { lastSentAt: undefined, now: NOW, coalesceMs: 0 });
    expect(plan.send).toEqual(batch.slice(0, 2));
    expect(plan.held).toBeUndefined();
  });

  it('holds a trailing text sent too soon after the previous callback, for the rest of the interval', () => {
    const batch = [cb('step'), cb('text')];
    const plan = planSends(batch, { lastSentAt: NOW - 100, now: NOW, coalesceMs: 300 });
    expect(plan.send).toEqual([batch[0]]);
    expect(plan.held).toEqual({ callback: batch[1], waitMs: 200 });
  });

  it('sends a trailing text once the interval has passed, or when nothing was sent yet', () => {
    expect(planSends([cb('text')], { lastSentAt: NOW - 300, now: NOW, coalesceMs: 300 }).held).toBeUndefined();
    expect(planSends([cb('text')], { lastSentAt: undefined, now: NOW, coalesceMs: 300 }).send).toHaveLength(1);
    expect(planSends([cb('text')], { lastSentAt: NOW, now: NOW, coalesceMs: 0 }).send).toHaveLength(1);
  });

  it('holds a trailing text while the log has more to read', () => {
    const batch = [cb('step'), cb('text')];
    const plan = planSends(batch, { lastSentAt: undefined, now: NOW, coalesceMs: 0, moreToRead: true });
    expect(plan.send).toEqual([batch[0]]);
    expect(plan.held?.callback).toBe(batch[1]);
  });

  // Indices into the batch, written out by hand. Every row: the previous callback went out 100 ms
  // ago with a 300 ms interval, so a trailing text is held for 200 ms.
  it.each<{ name: string; batch: Array<CallbackKind | 'cancelled'>; send: number[]; superseded: number[]; held?: number }>([
    { name: 'a terminal at index 0 ends the batch there', batch: ['terminal', 'text', 'step'], send: [0], superseded: [] },
    { name: 'no callbacks, no plan', batch: [], send: [], superseded: [] },
    {
      name: 'a step supersedes a text across a validation callback in between',
      batch: ['text', 'validation', 'step'],
      send: [1, 2],
      superseded: [0],
    },
    {
      name: 'superseded texts are listed in log order',
      batch: ['text', 'text', 'step', 'text', 'step'],
      send: [2, 4],
      superseded: [0, 1, 3],
    },
    { name: 'the trailing text is held behind two callbacks', batch: ['step', 'milestone', 'text'], send: [0, 1], superseded: [], held: 2 },
    {
      name: 'a superseded text, then a held trailing text',
      batch: ['text', 'step', 'milestone', 'text'],
      send: [1, 2],
      superseded: [0],
      held: 3,
    },
    {
      name: 'a text that is not the last callback is not held',
      batch: ['step', 'text', 'validation'],
      send: [0, 1, 2],
      superseded: [],
    },
    { name: 'a text before a result-less CANCELLED goes out', batch: ['step', 'text', 'cancelled'], send: [0, 1, 2], superseded: [] },
  ])('$name', ({ batch: kindsOfBatch, send, superseded, held }) => {
    const batch = kindsOfBatch.map(cb);
    const plan = planSends(batch, { lastSentAt: NOW - 100, now: NOW, coalesceMs: 300 });
    expect(plan.send).toEqual(send.map((i) => batch[i]));
    expect(plan.superseded).toEqual(superseded.map((i) => batch[i]));
    expect(plan.held).toEqual(held === undefined ? undefined : { callback: batch[held], waitMs: 200 });
  });

  it('is linear enough for a long stream of chunks', () => {
    const batch = Array.from({ length: 20_000 }, () => cb('text'));
    const plan = planSends(batch, { lastSentAt: undefined, now: NOW, coalesceMs: 300 });
    expect(plan.send).toEqual([batch.at(-1)]);
    expect(plan.superseded).toHaveLength(19_999);
  });
});
