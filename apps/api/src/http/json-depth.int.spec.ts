import { examplePayload, startApi, type ApiHarness } from '../../../../test/support/api-harness';
import { jsonDepth, MAX_JSON_DEPTH } from './json-depth';

const nestedArrays = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
const nestedObjects = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
/** A valid payload with one more field holding `value` (the payload itself nests 5 levels at most). */
const payloadWith = (taskId: number, value: string) => `${JSON.stringify(examplePayload(taskId, 1)).slice(0, -1)},"extra":${value}}`;

describe('JSON nesting depth over HTTP (real Redis)', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApi({ MAX_PAYLOAD_BYTES: String(2 * 1024 * 1024) }, { workerInProcess: false });
  });
  afterAll(async () => {
    await api?.close();
  });

  const TOO_DEEP = { error: `request body nests deeper than ${MAX_JSON_DEPTH} levels`, issues: [] };

  it('answers 100,000 levels with 400 on every route, writes nothing, logs no error', async () => {
    // The queue's meta key is BullMQ's own, written when the app starts.
    const written = async () => (await api.keys()).filter((key) => !key.endsWith(':codex-tasks:meta')).sort();
    const before = await written();
    const routes: [string, string][] = [
      ['POST', '/api/tasks/execute'],
      ['POST', '/v1/tasks'],
      ['POST', '/api/tasks/cancel?task_id=1'],
      ['POST', '/v1/tasks/1/cancel'],
      ['PUT', '/v1/tasks/1/subtasks/1'],
      ['POST', '/healthz'],
      ['POST', '/no/such/route'],
    ];
    const bodies = [
      nestedArrays(100_000),
      nestedObjects(100_000),
      payloadWith(901, nestedArrays(100_000)),
      payloadWith(902, nestedObjects(100_000)),
    ];
    const answers: string[] = [];
    for (const [method, path] of routes) {
      for (const body of bodies) {
        const res = await fetch(`${api.baseUrl}${path}`, { method, headers: { 'content-type': 'application/json' }, body });
        answers.push(`${method} ${path} ${res.status} ${await res.text()}`);
      }
    }
    expect(answers).toEqual(routes.flatMap(([method, path]) => bodies.map(() => `${method} ${path} 400 ${JSON.stringify(TOO_DEEP)}`)));
    expect(await written()).toEqual(before);
    expect(api.logs.filter((line) => line.includes('"level":50'))).toEqual([]);
  });

  it(`takes a payload nested ${MAX_JSON_DEPTH} levels, refuses ${MAX_JSON_DEPTH + 1}`, async () => {
    // examplePayload's deepest value is at 4 levels ({ bot: [ { agent_config: { env: … } } ] }); `extra` adds its own.
    const atLimit = payloadWith(903, nestedArrays(MAX_JSON_DEPTH - 1));
    const overLimit = payloadWith(904, nestedArrays(MAX_JSON_DEPTH));
    expect(jsonDepth(Buffer.from(atLimit))).toBe(MAX_JSON_DEPTH);
    const ok = await fetch(`${api.baseUrl}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: atLimit });
    expect(ok.status).toBe(202);
    const refused = await fetch(`${api.baseUrl}/v1/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: overLimit,
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual(TOO_DEEP);
  });
});
