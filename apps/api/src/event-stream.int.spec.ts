import { EventLogRepository } from '@wegent-codex/event-log';
import { EventStreamService } from './event-stream.service';
import {
  eventually,
  examplePayload,
  exampleRun,
  openEventStream,
  postJson,
  startApi,
  type ApiHarness,
} from '../../../test/support/api-harness';

const eventsPath = (taskId: number, subtaskId: number) => `/v1/tasks/${taskId}/subtasks/${subtaskId}/events`;

/** Names of the Redis connections this app's live tails hold (CLIENT LIST). */
async function tailConnections(api: ApiHarness): Promise<number> {
  const list = await api.redis.client('LIST');
  return String(list)
    .split('\n')
    .filter((line) => line.includes(`name=wegent-codex:sse:${api.prefix} `)).length;
}

describe('event stream (SSE)', () => {
  let api: ApiHarness;
  let events: EventLogRepository;

  beforeAll(async () => {
    api = await startApi();
    events = api.app.get(EventLogRepository);
  });
  afterAll(async () => {
    await api?.close();
  });

  it('replays the log, tails it live, and ends after the terminal event', async () => {
    const run = exampleRun(701, 1);
    const ids = [(await events.append(run[0])) as { id: string }, (await events.append(run[1])) as { id: string }].map((r) => r.id);

    const stream = await openEventStream(`${api.baseUrl}${eventsPath(701, 1)}`, { 'x-request-id': 'sse-1' });
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.response.headers.get('x-request-id')).toBe('sse-1');

    const first = await stream.nextEvent();
    expect(first).toEqual({ id: ids[0], event: 'status', data: expect.any(String) });
    expect(JSON.parse(first!.data!)).toMatchObject({ type: 'status', phase: 'started', seq: 1, task_id: 701, subtask_id: 1 });
    expect(await stream.nextEvent()).toMatchObject({ id: ids[1], event: 'chunk' });

    // Live: appended after the replay.
    await eventually(async () => (await tailConnections(api)) === 1, 'the live tail to start');
    const third = (await events.append(run[2])) as { id: string };
    const live = await stream.nextEvent();
    expect(live).toMatchObject({ id: third.id, event: 'chunk' });
    expect(JSON.parse(live!.data!)).toMatchObject({ text: 'it.', seq: 3 });

    await events.append(run[3]);
    expect(await stream.nextEvent()).toMatchObject({ event: 'done' });
    expect(await stream.nextEvent()).toBeNull();
    await eventually(async () => (await tailConnections(api)) === 0, 'the tail connection to close');
  });

  it('resumes after Last-Event-ID (or ?after=) and ends at once when the cursor is past the terminal event', async () => {
    const all = await events.read(701, 1);

    const resumed = await openEventStream(`${api.baseUrl}${eventsPath(701, 1)}`, { 'last-event-id': all[1].id });
    expect((await resumed.nextEvent())?.id).toBe(all[2].id);
    expect((await resumed.nextEvent())?.id).toBe(all[3].id);
    expect(await resumed.nextEvent()).toBeNull();

    const viaQuery = await openEventStream(`${api.baseUrl}${eventsPath(701, 1)}?after=${all[2].id}`);
    expect((await viaQuery.nextEvent())?.event).toBe('done');
    expect(await viaQuery.nextEvent()).toBeNull();

    const header = await openEventStream(`${api.baseUrl}${eventsPath(701, 1)}?after=0`, { 'last-event-id': all[3].id });
    expect(await header.nextEvent()).toBeNull();
  });

  it('waits for the first event of a subtask that is still queued', async () => {
    expect((await postJson(`${api.baseUrl}/v1/tasks`, examplePayload(702, 1))).status).toBe(202);
    const stream = await openEventStream(`${api.baseUrl}${eventsPath(702, 1)}`);
    await eventually(async () => (await tailConnections(api)) === 1, 'the live tail to start');

    await events.append(exampleRun(702, 1)[0]);
    expect(await stream.nextEvent()).toMatchObject({ event: 'status' });
    stream.close();
    await eventually(async () => api.app.get(EventStreamService).active === 0, 'the subscriber to be released');
  });

  it('releases the subscriber and its Redis connection when the client disconnects', async () => {
    await events.append(exampleRun(703, 1)[0]);
    const stream = await openEventStream(`${api.baseUrl}${eventsPath(703, 1)}`);
    expect(await stream.nextEvent()).toMatchObject({ event: 'status' });
    await eventually(async () => (await tailConnections(api)) === 1, 'the live tail to start');
    expect(api.app.get(EventStreamService).active).toBe(1);

    stream.close();

    await eventually(async () => api.app.get(EventStreamService).active === 0, 'the subscriber to be released');
    await eventually(async () => (await tailConnections(api)) === 0, 'the tail connection to close');
  });

  it('answers JSON errors before a stream starts: 404 unknown subtask, 400 bad Last-Event-ID', async () => {
    const unknown = await fetch(`${api.baseUrl}${eventsPath(799, 1)}`, { headers: { accept: 'text/event-stream' } });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'no job and no events for task 799 subtask 1' });

    const bad = await fetch(`${api.baseUrl}${eventsPath(701, 1)}`, {
      headers: { accept: 'text/event-stream', 'last-event-id': 'yesterday' },
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'invalid header', issues: [{ path: 'Last-Event-ID', message: expect.any(String) }] });
    expect(api.app.get(EventStreamService).active).toBe(0);
  });
});

describe('event stream limits', () => {
  let api: ApiHarness | undefined;

  beforeAll(async () => {
    api = await startApi({}, { maxStreamSubscribers: 1, streamHeartbeatMs: 50, streamBlockMs: 200 });
    await api.app.get(EventLogRepository).append(exampleRun(801, 1)[0]);
  });
  afterAll(async () => {
    await api?.close();
  });

  it('sends heartbeat comments and refuses a subscriber above the cap with 503', async () => {
    const url = `${api!.baseUrl}${eventsPath(801, 1)}`;
    const first = await openEventStream(url);
    expect(await first.nextFrame()).toMatchObject({ event: 'status' });
    expect(await first.nextFrame()).toEqual({ comment: 'heartbeat' });

    const second = await fetch(url, { headers: { accept: 'text/event-stream' } });
    expect(second.status).toBe(503);
    expect(await second.json()).toEqual({ error: 'too many event stream subscribers (limit 1); retry later' });

    first.close();
    await eventually(async () => api!.app.get(EventStreamService).active === 0, 'the subscriber to be released');
    const third = await openEventStream(url);
    expect(third.response.status).toBe(200);
    expect(await third.nextEvent()).toMatchObject({ event: 'status' });
    third.close();
  });

  it('ends open streams when the app shuts down', async () => {
    await eventually(async () => api!.app.get(EventStreamService).active === 0, 'earlier subscribers to be released');
    const stream = await openEventStream(`${api!.baseUrl}${eventsPath(801, 1)}`);
    expect(await stream.nextEvent()).toMatchObject({ event: 'status' });

    const closing = api!.close();
    api = undefined;
    expect(await stream.nextEvent()).toBeNull();
    await closing;
  });
});
