import { callbackJson } from './callback-json';

const system = { title: 'thinking.system_message_received', next_action: 'continue', details: { type: 'system', tools: ['Bash'] } };
const tool = { title: 'thinking.assistant_message_received', next_action: 'continue' };

describe('callbackJson', () => {
  it('writes a 2025 body as JSON.stringify does: key order kept, undefined values left out', () => {
    const body = {
      task_id: 7,
      subtask_id: 8,
      executor_name: undefined,
      progress: 75,
      status: 'RUNNING',
      error_message: 'Thinking: "quoted" ✅',
      result: { value: 'a\nb', thinking: [system, tool], workbench: { status: 'running', file_changes: [] }, skipped: undefined },
      task_type: 'online',
    };

    expect(callbackJson(body)).toBe(
      '{"task_id":7,"subtask_id":8,"progress":75,"status":"RUNNING","error_message":"Thinking: \\"quoted\\" ✅",' +
        '"result":{"value":"a\\nb","thinking":[' +
        '{"title":"thinking.system_message_received","next_action":"continue","details":{"type":"system","tools":["Bash"]}},' +
        '{"title":"thinking.assistant_message_received","next_action":"continue"}' +
        '],"workbench":{"status":"running","file_changes":[]}},"task_type":"online"}',
    );
  });

  it('writes the same text for a step shared by later callbacks, and non-object entries as JSON does', () => {
    const first = callbackJson({ result: { thinking: [tool] } });
    const later = callbackJson({ result: { thinking: [tool, null, 'x', undefined] } });

    expect(first).toBe('{"result":{"thinking":[{"title":"thinking.assistant_message_received","next_action":"continue"}]}}');
    expect(later).toBe('{"result":{"thinking":[{"title":"thinking.assistant_message_received","next_action":"continue"},null,"x",null]}}');
  });

  it('writes bodies without a thinking list (2026, CANCELLED) unchanged', () => {
    expect(callbackJson({ event_type: 'response.output_text.delta', data: { delta: 'hi', offset: 0 } })).toBe(
      '{"event_type":"response.output_text.delta","data":{"delta":"hi","offset":0}}',
    );
    expect(callbackJson({ task_id: 1, status: 'CANCELLED', result: undefined })).toBe('{"task_id":1,"status":"CANCELLED"}');
  });
});
