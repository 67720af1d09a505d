import { message, turn } from '../fixtures/fake-responses';
import { startServiceApp, taskMarker, type ServiceApp } from '../support/service-app';

/**
 * A bot with no model of its own runs on the service's default model through the worker's key
 * proxy: the model receives the service key, Codex and the task never hold it.
 */
const DEFAULT_KEY = 'svc-Default-Key-H3k9Q2m7Z5x1';
const TASK_ID = 4371;

describe('e2e: the service default model, through the key proxy', () => {
  let h: ServiceApp;

  beforeAll(async () => {
    h = await startServiceApp('default-model', {
      fakeEnv: (fakeBaseUrl) => ({ CODEX_MODEL: 'wegent-e2e-model', OPENAI_API_KEY: DEFAULT_KEY, OPENAI_BASE_URL: fakeBaseUrl }),
    });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  }, 60_000);

  it('completes with the key added on the way out, and the key nowhere in the task', async () => {
    h.router.script(TASK_ID, turn([message('Answered on the default model.', { phase: 'final_answer' })]));
    const answer = await h.execute({
      task_id: TASK_ID,
      subtask_id: 1,
      type: 'online',
      executor_name: '',
      task_title: 'Default',
      subtask_title: 'Default - Assistant',
      user: { id: 7, name: 'alice', git_token: null },
      bot: [{ id: 41, name: 'codex-dev', shell_type: 'Codex', agent_config: {}, system_prompt: '', mcp_servers: {}, skills: [] }],
      git_url: '',
      prompt: `${taskMarker(TASK_ID)} Hello.`,
      auth_token: null,
      attachments: [],
    });
    expect(answer.status).toBe(200);

    const terminal = await h.waitTerminal(TASK_ID, 1);
    expect(terminal.status).toBe('COMPLETED');
    expect(terminal.result?.value).toBe('Answered on the default model.');
    const requests = h.router.requestsOf(TASK_ID);
    expect(requests.length).toBeGreaterThan(0);
    for (const request of requests) expect(request.headers.authorization).toBe(`Bearer ${DEFAULT_KEY}`);
    expect(JSON.stringify(h.em.requests)).not.toContain(DEFAULT_KEY);
    expect(h.logs.join('')).not.toContain(DEFAULT_KEY);
    expect(h.em.duplicates()).toEqual([]);
  }, 120_000);
});
