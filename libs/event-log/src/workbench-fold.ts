import type { FileChange, GitSnapshot, RunContext, TaskCommit, ThinkingStep, Workbench } from '@wegent-codex/contracts';

/**
 * The changing part of a subtask's workbench (docs/protocol/wegent-protocol.md §7). The fixed part comes from
 * the run context; `renderWorkbench` joins both into the object the callbacks carry. Every
 * function here returns a new state and never mutates its input, so a rendered workbench can be
 * shared by callbacks without copying.
 */
export interface WorkbenchState {
  status: Workbench['status'];
  completedTime: string;
  lastUpdated: string;
  /** Undefined until something replaces it; then the initial summary no longer applies. */
  summary?: string;
  fileChanges: FileChange[];
  gitInfo: Workbench['git_info'];
}

export const initialWorkbenchState = (): WorkbenchState => ({
  status: 'running',
  completedTime: '',
  lastUpdated: '',
  fileChanges: [],
  gitInfo: { initial_commit_id: '', initial_commit_message: '', task_commits: [], source_branch: '', target_branch: '' },
});

/** `github` only when the domain contains github.com; every other domain, even "", is `gitlab`. */
export const gitTypeOf = (gitDomain: string): Workbench['git_type'] =>
  gitDomain.toLowerCase().includes('github.com') ? 'github' : 'gitlab';

/** The summary ClaudeCode writes while commits exist: one markdown entry per commit, oldest first. */
export const commitListSummary = (commits: readonly TaskCommit[]): string =>
  commits.map((commit) => `### commit id: ${commit.commit_id}\n${commit.message}\n\n---\n`).join('\n');

/**
 * A git refresh. `file_changes` never goes back to `[]` once it had entries (an empty diff read
 * mid-run is more likely a transient state than a real revert); commits replace the summary.
 */
export function withGitSnapshot(state: WorkbenchState, git: GitSnapshot): WorkbenchState {
  return {
    ...state,
    fileChanges: git.file_changes.length > 0 ? git.file_changes : state.fileChanges,
    summary: git.task_commits.length > 0 ? commitListSummary(git.task_commits) : state.summary,
    gitInfo: {
      initial_commit_id: git.initial_commit_id,
      initial_commit_message: git.initial_commit_message,
      task_commits: git.task_commits,
      source_branch: git.source_branch,
      target_branch: git.target_branch,
    },
  };
}

/**
 * The text an assistant step contributes to the summary: its last non-empty text block
 * (ClaudeCode replaces the summary with every non-empty text block in order).
 */
export function assistantTextOf(step: ThinkingStep): string | undefined {
  const details = step.details;
  if (details?.type !== 'assistant') return undefined;
  const content = (details.message as { content?: unknown } | undefined)?.content;
  if (!Array.isArray(content)) return undefined;
  let text: string | undefined;
  for (const block of content as unknown[]) {
    const candidate = block as { type?: unknown; text?: unknown } | null;
    if (candidate?.type === 'text' && typeof candidate.text === 'string' && candidate.text !== '') text = candidate.text;
  }
  return text;
}

export function withThinkingStep(state: WorkbenchState, step: ThinkingStep): WorkbenchState {
  const text = assistantTextOf(step);
  return text === undefined ? state : { ...state, summary: text };
}

export const withLastUpdated = (state: WorkbenchState, timestamp: string): WorkbenchState => ({ ...state, lastUpdated: timestamp });

/** Completion sets the time; it leaves the summary alone. */
export const withCompleted = (state: WorkbenchState, timestamp: string): WorkbenchState => ({
  ...state,
  status: 'completed',
  completedTime: timestamp,
});

export const withFailed = (state: WorkbenchState): WorkbenchState => ({ ...state, status: 'failed' });

/** The workbench object, keys in ClaudeCode's order. A missing context renders as empty strings. */
export function renderWorkbench(taskId: number, context: RunContext | undefined, state: WorkbenchState): Workbench {
  const gitDomain = context?.git_domain ?? '';
  return {
    taskTitle: context?.task_title ?? '',
    taskNumber: String(taskId),
    status: state.status,
    completedTime: state.completedTime,
    repository: context?.git_repo ?? '',
    branch: context?.branch_name ?? '',
    sessions: 1,
    premiumRequests: 0,
    lastUpdated: state.lastUpdated,
    summary: state.summary ?? (context?.subtask_title || context?.prompt || ''),
    changes: [],
    originalPrompt: context?.prompt ?? '',
    file_changes: state.fileChanges,
    git_info: state.gitInfo,
    git_domain: gitDomain,
    git_type: gitTypeOf(gitDomain),
  };
}
