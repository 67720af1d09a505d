import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { message, patch, plan, turn, type RecordedRequest } from '../fixtures/fake-responses';
import { blocksOf, expectSingleTerminalLast, startServiceApp, stepsOf, taskPayload, type ServiceApp } from '../support/service-app';

/**
 * The thinking-step mapping of docs/protocol/wegent-protocol.md §6.8 for the items a real Codex run produces from
 * apply_patch and update_plan calls (commands: pipeline.e2e.spec.ts; MCP calls: mcp.e2e.spec.ts).
 */
const API_KEY = 'sk-steps-SECRET-1a2b3c4d5e6f708192a3';

const ADD = '*** Begin Patch\n*** Add File: hello.txt\n+hello world\n*** Add File: notes.txt\n+scratch\n*** End Patch\n';
const UPDATE = '*** Begin Patch\n*** Update File: hello.txt\n@@\n-hello world\n+hello codex\n*** Delete File: notes.txt\n*** End Patch\n';
const MOVE = '*** Begin Patch\n*** Update File: hello.txt\n*** Move to: greeting.txt\n@@\n-hello codex\n+hello wegent\n*** End Patch\n';
const REJECTED = '*** Begin Patch\n*** Update File: missing.txt\n@@\n-a\n+b\n*** End Patch\n';

/** What Codex told the model about a custom tool call (apply_patch). */
function patchOutput(requests: RecordedRequest[], callId: string): string {
  for (const r of requests) {
    const output = (r.body.input as Record<string, any>[]).find((i) => i.type === 'custom_tool_call_output' && i.call_id === callId);
    if (output) return String(output.output);
  }
  return '';
}

describe('e2e: thinking steps of patches and plans (real Codex)', () => {
  let h: ServiceApp;

  beforeAll(async () => {
    h = await startServiceApp('steps', { env: { CODEX_STREAM_IDLE_TIMEOUT_MS: '20000', CODEX_IDLE_TIMEOUT_MS: '60000' } });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  }, 60_000);

  it('maps apply_patch to Write/Edit tool_use + "Success. Updated the following files" results, and update_plan to TodoWrite todos', async () => {
    const taskId = 9401;
    h.router.script(
      taskId,
      turn([
        plan('Small steps.', [
          { step: 'Write hello', status: 'in_progress' },
          { step: 'Report', status: 'pending' },
        ]),
      ]),
      turn([patch(ADD, { callId: 'call_add' })]),
      turn([patch(UPDATE, { callId: 'call_update' })]),
      turn([patch(MOVE, { callId: 'call_move' })]),
      turn([patch(REJECTED, { callId: 'call_rejected' })]),
      turn([
        plan(null, [
          { step: 'Write hello', status: 'completed' },
          { step: 'Report', status: 'in_progress' },
          { step: 'Celebrate', status: 'pending' },
        ]),
      ]),
      turn([message('Wrote greeting.txt.', { phase: 'final_answer' })]),
    );
    const answer = await h.execute(
      taskPayload(h, taskId, 1, 'Write a greeting.', {
        apiKey: API_KEY,
        modelId: 'wegent-steps-model',
        title: 'Steps',
        bot: { system_prompt: '' },
      }),
    );
    expect(answer.status).toBe(200);
    const terminal = await h.waitTerminal(taskId, 1);
    await expectSingleTerminalLast(h, taskId, 1);
    expect(terminal).toMatchObject({ status: 'COMPLETED', progress: 100, error_message: 'Wrote greeting.txt.' });
    const taskDir = join(h.workspaceRoot, String(taskId));
    const steps = stepsOf(terminal);
    const blocks = blocksOf(steps);
    const uses = (prefix: string) => blocks.filter((b) => b.type === 'tool_use' && String(b.id).startsWith(prefix));
    const results = (prefix: string) => blocks.filter((b) => b.type === 'tool_result' && String(b.tool_use_id).startsWith(prefix));

    // update_plan → TodoWrite (the FE's todo list), the explanation as a text block before it.
    const planStep = steps.find((s) => s.details?.message?.content?.some((b: Record<string, any>) => b.id === 'plan-1'))!;
    expect(planStep.title).toBe('thinking.assistant_message_received');
    expect(planStep.details!.message.content).toEqual([
      { type: 'text', text: 'Small steps.' },
      {
        type: 'tool_use',
        id: 'plan-1',
        name: 'TodoWrite',
        input: {
          todos: [
            { content: 'Write hello', status: 'in_progress', activeForm: 'Write hello' },
            { content: 'Report', status: 'pending', activeForm: 'Report' },
          ],
        },
      },
    ]);
    expect(uses('plan-2')).toEqual([
      {
        type: 'tool_use',
        id: 'plan-2',
        name: 'TodoWrite',
        input: {
          todos: [
            { content: 'Write hello', status: 'completed', activeForm: 'Write hello' },
            { content: 'Report', status: 'in_progress', activeForm: 'Report' },
            { content: 'Celebrate', status: 'pending', activeForm: 'Celebrate' },
          ],
        },
      },
    ]);

    // Added files → Write with the new content; one block per change, ids <item id>:<index>.
    expect(uses('call_add')).toEqual([
      { type: 'tool_use', id: 'call_add:0', name: 'Write', input: { file_path: join(taskDir, 'hello.txt'), content: 'hello world\n' } },
      { type: 'tool_use', id: 'call_add:1', name: 'Write', input: { file_path: join(taskDir, 'notes.txt'), content: 'scratch\n' } },
    ]);
    expect(results('call_add')).toEqual([
      { type: 'tool_result', tool_use_id: 'call_add:0', content: 'Success. Updated the following files:\nA hello.txt', is_error: false },
      { type: 'tool_result', tool_use_id: 'call_add:1', content: 'Success. Updated the following files:\nA notes.txt', is_error: false },
    ]);
    // Updated → Edit with the diff; deleted → Edit with deleted: true.
    expect(uses('call_update')).toEqual([
      {
        type: 'tool_use',
        id: 'call_update:0',
        name: 'Edit',
        input: { file_path: join(taskDir, 'hello.txt'), diff: '@@ -1 +1 @@\n-hello world\n+hello codex\n' },
      },
      { type: 'tool_use', id: 'call_update:1', name: 'Edit', input: { file_path: join(taskDir, 'notes.txt'), deleted: true } },
    ]);
    expect(results('call_update').map((b) => [b.content, b.is_error])).toEqual([
      ['Success. Updated the following files:\nM hello.txt', false],
      ['Success. Updated the following files:\nD notes.txt', false],
    ]);
    // A move → Edit with move_path, reported under the new name.
    expect(uses('call_move')).toHaveLength(1);
    expect(uses('call_move')[0]).toMatchObject({
      name: 'Edit',
      input: { file_path: join(taskDir, 'hello.txt'), move_path: join(taskDir, 'greeting.txt') },
    });
    expect(results('call_move').map((b) => [b.content, b.is_error])).toEqual([
      ['Success. Updated the following files:\nM greeting.txt', false],
    ]);

    // Each result line is the one Codex itself reported to the model (A/M/D as in its patch output).
    const requests = h.router.requestsOf(taskId);
    for (const callId of ['call_add', 'call_update', 'call_move']) {
      const told = patchOutput(requests, callId);
      expect(told).toContain('Success. Updated the following files:');
      for (const result of results(callId)) expect(told).toContain(String(result.content).split('\n')[1]);
    }
    // A patch Codex rejects before applying it produces no item in 0.169, hence no step; only the model learns why.
    expect(patchOutput(requests, 'call_rejected')).toContain('apply_patch verification failed');
    expect(JSON.stringify(steps)).not.toContain('missing.txt');

    // Steps pair up: every tool_result answers a tool_use of an earlier step.
    const seen = new Set<string>();
    for (const step of steps) {
      for (const block of (step.details?.message?.content ?? []) as Record<string, any>[]) {
        if (block.type === 'tool_use') seen.add(block.id);
        if (block.type === 'tool_result') expect(seen.has(block.tool_use_id)).toBe(true);
      }
    }
    // The patches really ran in the task's workspace.
    expect(await readFile(join(taskDir, 'greeting.txt'), 'utf8')).toBe('hello wegent\n');
    expect((await readdir(taskDir)).filter((f) => f.endsWith('.txt'))).toEqual(['greeting.txt']);
  }, 120_000);
});
