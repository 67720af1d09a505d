import { z } from 'zod';

/** One entry of `workbench.file_changes` (docs/protocol/wegent-protocol.md §7.2). */
export const fileChangeSchema = z.object({
  old_path: z.string(),
  new_path: z.string(),
  new_file: z.boolean(),
  renamed_file: z.boolean(),
  deleted_file: z.boolean(),
  added_lines: z.number().int(),
  removed_lines: z.number().int(),
  diff_title: z.string(),
});

export const taskCommitSchema = z.object({
  commit_id: z.string(),
  short_id: z.string(),
  message: z.string(),
  author: z.string(),
  author_email: z.string(),
  committed_date: z.string(),
  stats: z.object({ files_changed: z.number().int(), insertions: z.number().int(), deletions: z.number().int() }),
});

/** What the worker learns from git; the relay folds it into the workbench object. */
export const gitSnapshotSchema = z.object({
  initial_commit_id: z.string(),
  initial_commit_message: z.string(),
  source_branch: z.string(),
  target_branch: z.string(),
  file_changes: z.array(fileChangeSchema),
  task_commits: z.array(taskCommitSchema),
});
export type GitSnapshot = z.infer<typeof gitSnapshotSchema>;
export type FileChange = z.infer<typeof fileChangeSchema>;
export type TaskCommit = z.infer<typeof taskCommitSchema>;

/** The workbench object of every callback from 55 on (docs/protocol/wegent-protocol.md §7.1). */
export const workbenchSchema = z.object({
  taskTitle: z.string(),
  taskNumber: z.string(),
  status: z.enum(['running', 'completed', 'failed']),
  completedTime: z.string(),
  repository: z.string(),
  branch: z.string(),
  sessions: z.number().int(),
  premiumRequests: z.number().int(),
  lastUpdated: z.string(),
  summary: z.string(),
  changes: z.array(z.unknown()),
  originalPrompt: z.string(),
  file_changes: z.array(fileChangeSchema),
  git_info: z.object({
    initial_commit_id: z.string(),
    initial_commit_message: z.string(),
    task_commits: z.array(taskCommitSchema),
    source_branch: z.string(),
    target_branch: z.string(),
  }),
  git_domain: z.string(),
  git_type: z.enum(['github', 'gitlab']),
});
export type Workbench = z.infer<typeof workbenchSchema>;
