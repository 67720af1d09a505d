/**
 * The Codex payload of docs/protocol/wegent-protocol.md §2.9, shared by every test that needs a realistic one.
 * Its secrets are in EXAMPLE_SECRETS so tests can assert they never leak.
 */
export const EXAMPLE_SECRETS = {
  apiKey: 'sk-proj-EXAMPLEONLY',
  gitToken: 'q3ZxK1u0b9cM2l5eH0vW8A==',
  authToken: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInVzZXJfaWQiOjcsImV4cCI6MTc2NzE2MDAwMH0.c2lnbmF0dXJl',
} as const;

/** The full Codex payload of docs/protocol/wegent-protocol.md §2.9, with ids to choose. */
export function examplePayload(taskId = 305, subtaskId = 812): Record<string, unknown> {
  return {
    subtask_id: subtaskId,
    subtask_next_id: null,
    task_id: taskId,
    type: 'online',
    executor_name: '',
    executor_namespace: '',
    subtask_title: 'Fix login bug - Assistant',
    task_title: 'Fix login bug',
    user: {
      id: 7,
      name: 'alice',
      git_domain: 'github.com',
      git_token: EXAMPLE_SECRETS.gitToken,
      git_id: '123456',
      git_login: 'alice-gh',
      git_email: null,
      user_name: 'alice-gh',
    },
    bot: [
      {
        id: 41,
        name: 'codex-developer',
        shell_type: 'Codex',
        agent_config: {
          env: {
            model: 'openai',
            model_id: 'gpt-5.5',
            api_key: EXAMPLE_SECRETS.apiKey,
            base_url: 'https://llm-gateway.example.com/v1',
            custom_headers: { 'X-Team': 'platform' },
          },
        },
        system_prompt: 'You are a senior software engineer. Work in small, tested steps.\nFocus on the login flow.',
        mcp_servers: {
          mcpServers: {
            github: {
              command: 'docker',
              args: ['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN', 'ghcr.io/github/github-mcp-server'],
              env: { GITHUB_PERSONAL_ACCESS_TOKEN: '${{user.git_token}}' },
            },
            docs: { type: 'streamable-http', url: 'https://mcp.example.com/mcp', headers: { 'X-User': '${{user.name}}' } },
          },
        },
        skills: ['wiki_submit'],
        role: '',
        base_image: null,
      },
    ],
    team_id: 22,
    mode: 'solo',
    git_domain: 'github.com',
    git_repo: 'alice/app',
    git_repo_id: 998877,
    branch_name: 'main',
    git_url: 'https://github.com/alice/app.git',
    prompt: 'Please fix the login bug shown in [attachment:55]',
    auth_token: EXAMPLE_SECRETS.authToken,
    attachments: [{ id: 55, original_filename: 'screenshot.png', file_extension: '.png', file_size: 20480, mime_type: 'image/png' }],
    status: 'RUNNING',
    progress: 0,
    created_at: '2025-12-30T10:00:00',
    updated_at: '2025-12-30T10:00:01',
  };
}
