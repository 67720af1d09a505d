/**
 * The Codex body of docs/protocol/wegent-protocol-2026.md §2.11 as executor_manager POSTs it to `/v1/responses`,
 * with ids to choose. Its secrets are in RESPONSES_SECRETS so tests can assert they never leak.
 */
export const RESPONSES_SECRETS = {
  apiKey: 'sk-2026-EXAMPLEONLY-0123456789',
  gitToken: 'q2F9base64aesEXAMPLE==',
  authToken: 'eyJhbGciOiJIUzI1NiJ9.eyJ0YXNrX2lkIjo0NzExfQ.c2lnbmF0dXJlMjAyNg',
  skillIdentityToken: 'eyJhbGciOiJIUzI1NiJ9.c2tpbGwtaWRlbnRpdHk.c2lnbmF0dXJlU0tJTEw',
} as const;

export function exampleResponsesBody(taskId = 4711, subtaskId = 9902): Record<string, any> {
  return {
    model: 'gpt-5.1-codex',
    input:
      '[Attachment 1]\n[Attachment: error.log | ID: 301 | Type: text/plain | Size: 2.0 KB | URL: /api/attachments/301/download | Local File Path: /workspace/4711/4711:executor:attachments/9901/error.log]\n\nThe CI job fails, see the log. Please fix the parser test.',
    instructions: '<base_prompt>You are a senior TypeScript engineer. Keep diffs minimal.</base_prompt>',
    tools: [
      {
        type: 'mcp',
        server_label: 'issues',
        server_url: 'https://mcp.example.internal/mcp',
        server_type: 'streamable-http',
        require_approval: 'never',
        server_auth: { Authorization: 'Bearer ${{task_token}}' },
      },
    ],
    stream: false,
    background: true,
    metadata: {
      task_id: taskId,
      subtask_id: subtaskId,
      user: {
        id: 12,
        name: 'alice',
        git_domain: 'github.com',
        git_token: RESPONSES_SECRETS.gitToken,
        git_id: '98765',
        git_login: 'alice',
        git_email: 'alice@example.com',
      },
      user_id: 12,
      user_name: 'alice',
      team_id: 55,
      team_name: 'codex-dev',
      team_namespace: 'default',
      bot: [
        {
          id: 77,
          name: 'codex-dev-bot',
          shell_type: 'Codex',
          agent_config: { env: { model: 'openai', model_id: 'gpt-5.1-codex' }, protocol: 'openai-responses' },
          system_prompt: '<base_prompt>You are a senior TypeScript engineer. Keep diffs minimal.</base_prompt>',
          mcp_servers: [
            {
              name: 'issues',
              url: 'https://mcp.example.internal/mcp',
              type: 'streamable-http',
              headers: { Authorization: 'Bearer ${{task_token}}' },
            },
          ],
          skills: ['repo-conventions'],
          skill_refs: { 'repo-conventions': { skill_id: 310, namespace: 'default', is_public: false, content_hash: 'sha256:ab12' } },
          role: 'worker',
          base_image: null,
        },
      ],
      bot_name: 'codex-dev-bot',
      bot_namespace: 'default',
      message_id: 2,
      user_message_id: null,
      user_subtask_id: 9901,
      is_group_chat: false,
      history_limit: null,
      stateless: false,
      enable_tools: true,
      enable_web_search: false,
      enable_clarification: false,
      enable_deep_thinking: true,
      enable_tool_output_guard: true,
      search_engine: null,
      skill_names: ['repo-conventions'],
      skill_configs: [
        {
          name: 'repo-conventions',
          description: 'House rules',
          prompt: '…',
          displayName: 'Repo conventions',
          skill_id: 310,
          skill_user_id: 12,
        },
      ],
      preload_skills: [],
      user_selected_skills: [],
      skill_refs: { 'repo-conventions': { skill_id: 310, namespace: 'default', is_public: false, content_hash: 'sha256:ab12' } },
      preload_skill_refs: {},
      knowledge_base_ids: null,
      document_ids: null,
      external_knowledge_refs: null,
      selected_knowledge_prompt: '',
      provider_native_knowledge: false,
      knowledge_base_scopes: [],
      is_user_selected_kb: true,
      kb_tool_access_mode: 'full',
      table_contexts: [],
      kb_meta_prompt: '',
      task_data: null,
      interactive_form_answer: null,
      attachments: [
        {
          id: 301,
          original_filename: 'error.log',
          status: 'success',
          local_path: '/workspace/4711/4711:executor:attachments/9901/error.log',
          mime_type: 'text/plain',
          file_size: 2048,
          subtask_id: 9901,
        },
      ],
      auth_token: RESPONSES_SECRETS.authToken,
      skill_identity_token: RESPONSES_SECRETS.skillIdentityToken,
      backend_url: 'http://wegent-backend:8000',
      workspace: {
        repository: {
          gitUrl: 'https://github.com/acme/api.git',
          gitRepo: 'acme/api',
          gitRepoId: 42,
          gitDomain: 'github.com',
          branchName: 'main',
        },
        branch: 'main',
        path: null,
      },
      is_subscription: false,
      request_id: `req_${subtaskId}`,
      executor_name: 'wegent-task-alice-3f9c1a0b7d2e4c1',
      executor_namespace: '',
      skip_git_clone: false,
      fork_runtime: null,
      inherited_sessions: [],
      executor_image: null,
      executor_type: null,
      type: null,
      mode: 'solo',
      subtask_next_id: null,
      subtask_title: null,
      task_title: null,
      git_repo: 'acme/api',
      git_url: 'https://github.com/acme/api.git',
      git_domain: 'github.com',
      git_repo_id: 42,
      branch_name: 'main',
      validation_params: null,
      sandbox_metadata: null,
      callback_url: null,
      new_session: false,
      collaboration_model: 'solo',
    },
    model_config: {
      api_key: RESPONSES_SECRETS.apiKey,
      base_url: 'https://api.openai.com/v1',
      model_id: 'gpt-5.1-codex',
      model: 'openai',
      default_headers: {},
      api_format: 'responses',
      protocol: 'openai-responses',
      context_window: 272000,
      max_output_tokens: null,
      modelType: 'llm',
      videoConfig: null,
      think_config: null,
      temperature: null,
      reasoning: { effort: 'high', summary: 'auto' },
      service_tier: 'priority',
      runtime_config: {
        codex: {
          use_user_config: false,
          configured: false,
          target_path: null,
          auth_json_sha256: null,
          use_proxy: false,
          proxy_configured: false,
        },
      },
    },
  };
}

/** What a test chooses of a trimmed Codex Responses body (minimalResponsesBody). */
export interface MinimalResponsesBody {
  taskId: number;
  subtaskId: number;
  /** The user's message (`input`), e.g. led by the task marker the fake model routes on. */
  input: string;
  model: string;
  apiKey: string;
  /** The model's base URL: the fake Responses API. */
  baseUrl: string;
  executorName: string;
  /** Task title "<titlePrefix> <task>", subtask title "<titlePrefix> <task>.<subtask>". */
  titlePrefix: string;
  messageId?: number;
}

/**
 * A Responses body as today's executor_manager POSTs it (§2.11), trimmed to what a Codex run uses:
 * one Codex bot on the given model, no repository, MCP servers, skills or attachments.
 */
export function minimalResponsesBody(o: MinimalResponsesBody): Record<string, unknown> {
  return {
    model: o.model,
    input: o.input,
    instructions: 'Be brief.',
    tools: null,
    stream: false,
    background: true,
    metadata: {
      task_id: o.taskId,
      subtask_id: o.subtaskId,
      task_title: `${o.titlePrefix} ${o.taskId}`,
      subtask_title: `${o.titlePrefix} ${o.taskId}.${o.subtaskId}`,
      user: { id: 7, name: 'alice', git_token: null },
      bot: [
        {
          id: 41,
          name: 'codex-dev',
          shell_type: 'Codex',
          agent_config: { env: { model: 'openai', model_id: o.model } },
          mcp_servers: [],
          skills: [],
        },
      ],
      bot_name: 'codex-dev',
      message_id: o.messageId ?? 2,
      auth_token: null,
      attachments: [],
      executor_name: o.executorName,
      executor_namespace: '',
    },
    model_config: { model_id: o.model, api_key: o.apiKey, base_url: o.baseUrl, default_headers: {} },
  };
}
