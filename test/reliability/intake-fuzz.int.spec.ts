import fc from 'fast-check';
import { startApi, type ApiHarness } from '../support/api-harness';
import { examplePayload } from '../support/wegent-payload';

/**
 * Property-based fuzzing of the HTTP intake: whatever arrives, the answer is a clear 4xx JSON (or
 * a normal acceptance), the process stays healthy, and a rejected body enqueues nothing.
 */
describe('intake fuzzing (fast-check)', () => {
  let api: ApiHarness;
  let baseKeys: Set<string>;
  // BullMQ writes its queue meta key lazily; it is not an enqueued job.
  const jobKeys = async () => new Set((await api.keys()).filter((k) => !k.endsWith(':codex-tasks:meta')));

  beforeAll(async () => {
    api = await startApi({ MAX_PAYLOAD_BYTES: String(256 * 1024) });
    baseKeys = await jobKeys();
  }, 30_000);
  afterAll(async () => {
    await api.close();
  });

  const post = (path: string, body: string, contentType = 'application/json') =>
    fetch(`${api.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });

  async function expectRejectedCleanly(res: Response): Promise<void> {
    expect([400, 413]).toContain(res.status);
    const body = (await res.json()) as { error?: unknown; issues?: unknown };
    expect(typeof body.error).toBe('string');
    if (res.status === 400) expect(Array.isArray(body.issues)).toBe(true);
    expect(await jobKeys()).toEqual(baseKeys);
  }

  async function expectHealthy(): Promise<void> {
    const res = await fetch(`${api.baseUrl}/healthz`);
    expect(res.status).toBe(200);
  }

  it('answers arbitrary JSON values that are not payloads with 400 and enqueues nothing', async () => {
    const notPayload = fc.jsonValue({ maxDepth: 4 }).filter((v) => {
      const o = v as Record<string, unknown> | null;
      return !(
        o &&
        typeof o === 'object' &&
        !Array.isArray(o) &&
        Number.isInteger(o.task_id) &&
        Number.isInteger(o.subtask_id) &&
        Array.isArray(o.bot)
      );
    });
    await fc.assert(
      fc.asyncProperty(notPayload, fc.constantFrom('/api/tasks/execute', '/v1/tasks'), async (value, path) => {
        await expectRejectedCleanly(await post(path, JSON.stringify(value)));
      }),
      { numRuns: 150 },
    );
    await expectHealthy();
  }, 120_000);

  it('answers malformed bodies (random text, truncated JSON, wrong types) with 400', async () => {
    const valid = JSON.stringify(examplePayload(1, 1));
    const malformed = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.integer({ min: 1, max: valid.length - 1 }).map((cut) => valid.slice(0, cut)),
      fc
        .record({
          task_id: fc.oneof(fc.string(), fc.double(), fc.constant(null), fc.constant(-1)),
          subtask_id: fc.anything(),
          bot: fc.anything(),
        })
        .map((o) => JSON.stringify(o)),
    );
    await fc.assert(
      fc.asyncProperty(malformed, async (body) => {
        await expectRejectedCleanly(await post('/api/tasks/execute', body));
      }),
      { numRuns: 150 },
    );
    await expectHealthy();
  }, 120_000);

  it('rejects huge strings and deep nesting without crashing', async () => {
    const huge = { ...examplePayload(2, 2), prompt: 'x'.repeat(300 * 1024) };
    await expectRejectedCleanly(await post('/api/tasks/execute', JSON.stringify(huge)));
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    await expectRejectedCleanly(await post('/v1/tasks', deep));
    const deepInside = JSON.stringify({ task_id: 'x', bot: [] }).replace('[]', '['.repeat(5_000) + ']'.repeat(5_000));
    await expectRejectedCleanly(await post('/v1/tasks', deepInside));
    await expectHealthy();
  }, 60_000);

  it('accepts hostile-but-well-formed payloads at intake (the worker refuses them), never crashing', async () => {
    // Path traversal names, hostile git URLs and odd skill names are the worker's to refuse
    // (pre-execute failure / skipped downloads); the intake must still answer cleanly.
    const hostile = fc.record({
      git_url: fc.constantFrom(
        '--upload-pack=touch /tmp/pwned',
        'ext::sh -c touch% /tmp/pwned',
        'file:///etc',
        '/etc/passwd',
        'https://github.com/a/b.git',
      ),
      original_filename: fc.constantFrom('../../etc/passwd', '..', '/abs/path', 'a\u0000b', 'ok.png'),
      skill: fc.constantFrom('../escape', '.', 'fine_skill', 'a/b'),
    });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(hostile, async (h) => {
        n += 1;
        const payload = {
          ...examplePayload(900_000 + n, 1),
          git_url: h.git_url,
          attachments: [{ id: 1, original_filename: h.original_filename, file_extension: '', file_size: 1, mime_type: 'text/plain' }],
          bot: [{ ...(examplePayload().bot as object[])[0], skills: [h.skill] }],
        };
        const res = await post('/api/tasks/execute', JSON.stringify(payload));
        expect(res.status).toBe(200);
      }),
      { numRuns: 25 },
    );
    await expectHealthy();
  }, 60_000);
});
