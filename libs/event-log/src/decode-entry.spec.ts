import { decodeEntry } from './event-log.repository';

/** Fields as the append script writes them (event-log.repository.ts): seq, type, ts, body. */
const chunkBody = '{"task_id":7,"subtask_id":1,"attempt":1,"type":"chunk","item_id":"msg_1","text":"Hello"}';

describe('decodeEntry: one stored entry of a subtask log', () => {
  it('stamps the seq and the append time of the entry on the body', () => {
    expect(decodeEntry('1700000000000-0', ['seq', '3', 'type', 'chunk', 'ts', '2026-12-06T09:00:00.000Z', 'body', chunkBody])).toEqual({
      id: '1700000000000-0',
      event: {
        task_id: 7,
        subtask_id: 1,
        attempt: 1,
        seq: 3,
        timestamp: '2026-12-06T09:00:00.000Z',
        type: 'chunk',
        item_id: 'msg_1',
        text: 'Hello',
      },
    });
  });

  it('takes the fields in any order, and the entry seq and time over any in the body', () => {
    const body = '{"task_id":7,"subtask_id":1,"attempt":1,"seq":99,"timestamp":"forged","type":"chunk","item_id":"msg_1","text":"Hi"}';
    const { event } = decodeEntry('5-1', ['body', body, 'ts', '2026-12-06T09:00:01.000Z', 'seq', '4']);
    expect(event).toMatchObject({ seq: 4, timestamp: '2026-12-06T09:00:01.000Z', text: 'Hi' });
  });

  it.each([
    ['a body that is not JSON', ['seq', '1', 'ts', 't', 'body', '{"task_id":7,']],
    ['a body that is an array', ['seq', '1', 'ts', 't', 'body', '[1,2]']],
    ['a body that is a number', ['seq', '1', 'ts', 't', 'body', '42']],
    ['a body that is null', ['seq', '1', 'ts', 't', 'body', 'null']],
    ['no body', ['seq', '1', 'ts', 't']],
    ['no seq', ['ts', 't', 'body', chunkBody]],
    ['a seq that is not a number', ['seq', 'one', 'ts', 't', 'body', chunkBody]],
    ['no time', ['seq', '1', 'body', chunkBody]],
    ['an unknown event type', ['seq', '1', 'ts', 't', 'body', '{"task_id":7,"subtask_id":1,"attempt":1,"type":"rm -rf"}']],
  ])('throws on %s (the relay then fails that subtask, nothing else)', (_, fields) => {
    expect(() => decodeEntry('9-0', fields)).toThrow();
  });

  it('a body with a __proto__ key changes no prototype', () => {
    const body = '{"__proto__":{"polluted":true},"task_id":7,"subtask_id":1,"attempt":1,"type":"chunk","item_id":"m","text":"x"}';
    const { event } = decodeEntry('9-1', ['seq', '1', 'ts', 't', 'body', body]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
    expect((event as Record<string, unknown>).polluted).toBeUndefined();
  });
});
