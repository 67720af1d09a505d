import { dirname, join, resolve } from 'node:path';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { Config, GitSnapshot, TaskPayload } from '@wegent-codex/contracts';
import {
  codexHomeSeed,
  codexProcessEnv,
  passedServiceEnv,
  plantCodexHomeSeed,
  DEFAULT_API_KEY_ENV,
  resolveCodexBinary,
  warmThreadConfig,
  writeCodexHome,
  type CodexHomeSeed,
  type McpServerOptions,
} from '@wegent-codex/codex';
import { serviceSecretsOf } from '@wegent-codex/redaction';
import { CONFIG, LOGGER, settleAll, type Logger } from '@wegent-codex/runtime';
import { localRepositoryBind, SandboxService, type SandboxLauncher } from '@wegent-codex/sandbox';
import { ModelKeyProxy, type ModelKeyLease } from './model-key-proxy';
import { taskCommandWrapper, type WarmSlotView } from './task-command-wrapper';
import {
  appendPromptSuffix,
  backendBaseUrl,
  collectSecrets,
  composeDeveloperInstructions,
  decryptGitToken,
  downloadAttachments,
  emptyDirectory,
  imageInputs,
  initialCommitOf,
  installSkills,
  loadCustomInstructions,
  missingApiKey,
  normalizeMcpServers,
  prepareRepository,
  readGitSnapshot,
  realDirectory,
  replaceFile,
  repositoryConfigFrom,
  resolveModel,
  rewriteAttachments,
  saveInputImages,
  splitPresynced,
  substitutePlaceholders,
  toCodexMcpServers,
  type CommandWrapper,
  type SkillInstallResult,
} from '@wegent-codex/workspace';

export interface PreparedWorkspace {
  codexBin: string;
  /** WORKSPACE_ROOT/<task_id>: the user's files only (the clone, attachments, what the agent makes). */
  taskDir: string;
  /** WORKSPACE_ROOT/.task-state/<task_id>: the service's files of the task (CODEX_HOME, HOME, git home). */
  stateDir: string;
  /** The command that starts a program of this task inside its sandbox (Codex, the worker's git). */
  launch: CommandWrapper;
  /** Ends what the run holds outside its folders (its model key lease); called once the run is over. */
  release(): void;
  /** Set by the session while a warm process holds the task's folders (see taskCommandWrapper). */
  slot: WarmSlotView;
  /** Codex's working directory: the clone, or the task directory when there is no repository. */
  workDir: string;
  codexHome: string;
  /** A clean HOME for Codex and the commands it runs (no login profile we don't control). */
  homeDir: string;
  /** The whole environment of the Codex process; holds the api key — never log it. */
  env: Record<string, string>;
  model: string;
  developerInstructions: string;
  prompt: string;
  images: string[];
  /** http(s) image URLs of a 2026 input (Codex `image` items, after the local images). */
  imageUrls: string[];
  attachmentsDownloaded: number;
  mcp: ReturnType<typeof toCodexMcpServers>;
  /** Secret values of this task, for masking. */
  secrets: string[];
  /** Reads the workbench's git data (undefined when there is no repository). */
  git?: () => Promise<GitSnapshot>;
  /** How a warm Codex process runs this task: its thread's config, or why it must run cold. */
  warm: { threadConfig: Record<string, unknown>; coldReason?: string };
}

const CONTEXT_WINDOW_FOR_CUSTOM_MODELS = 262_144;
/** Under WORKSPACE_ROOT, next to the task folders (numeric names), never bound into a run but its own. */
export const TASK_STATE_DIR = '.task-state';

/**
 * Prepares WORKSPACE_ROOT/<task_id>/ for a run: directories, a clean HOME, the task's CODEX_HOME
 * with its config (provider, MCP servers, offline flags), the instructions and the prompt.
 */
@Injectable()
export class WorkspacePreparer implements OnModuleInit {
  readonly root: string;
  private bin?: string;
  /** Codex's databases, migrated once, for each new CODEX_HOME (libs/codex codex-home-seed.ts); set once made. */
  private seed?: CodexHomeSeed;
  private seeding?: Promise<CodexHomeSeed | undefined>;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly sandbox: SandboxService,
    private readonly modelKeys: ModelKeyProxy,
  ) {
    this.root = resolve(config.WORKSPACE_ROOT);
  }

  /** Starts making the CODEX_HOME seed in the background (a task never waits for it). */
  onModuleInit(): void {
    void this.codexHomeSeed();
  }

  /** The seed once made (undefined while it is made, or when it could not be). */
  codexHomeSeed(): Promise<CodexHomeSeed | undefined> {
    this.seeding ??= codexHomeSeed(this.codexBin, {
      onError: (error) => this.logger.warn({ err: error.message }, 'Codex databases could not be prepared once: each run makes its own'),
    }).then((seed) => (this.seed = seed));
    return this.seeding;
  }

  get codexBin(): string {
    this.bin ??= resolveCodexBinary({ override: this.config.CODEX_BIN });
    return this.bin;
  }

  taskDir(taskId: number): string {
    return join(this.root, String(taskId));
  }

  stateDir(taskId: number): string {
    return join(this.root, TASK_STATE_DIR, String(taskId));
  }

  /**
   * Wraps a command of this task into its sandbox: the task and state folders writable, the
   * Codex binary's folder (and a local test repository) readable, nothing else of this host.
   */
  private wrapperFor(launcher: SandboxLauncher, taskDir: string, stateDir: string, readable: string[], slot: WarmSlotView): CommandWrapper {
    return taskCommandWrapper({ launcher, root: this.root, taskDir, stateDir, readable, slot });
  }

  /** The secrets a payload brings (its keys and tokens) and the service's own: what its run masks before preparation. */
  secretsOf(payload: TaskPayload): string[] {
    const token = payload.user?.git_token ?? null;
    const decrypted = token ? decryptGitToken(token, this.config.GIT_TOKEN_AES_KEY, this.config.GIT_TOKEN_AES_IV) : null;
    return [...collectSecrets(payload, decrypted), ...serviceSecretsOf(this.config)];
  }

  /** The task's repository: cloned once per task (follow-ups find it), credentials never in argv or .git/config. */
  private async repositoryOf(
    payload: TaskPayload,
    at: { taskDir: string; stateDir: string; wrap: CommandWrapper; log: Logger; signal?: AbortSignal; begun?: Promise<unknown> },
  ) {
    const { taskDir, stateDir, wrap, log, signal, begun } = at;
    // A clone cannot simply be made again: it starts once the run's `started` is in the log, so a
    // worker that dies meanwhile leaves a job that reruns from nothing (a redelivery with events is ended).
    if (payload.git_url?.trim()) await begun;
    const repo = await prepareRepository({
      payload,
      taskDir,
      stateDir,
      wrap,
      config: repositoryConfigFrom(this.config),
      logger: log,
      signal,
    });
    const initialCommit = repo.repoDir
      ? await initialCommitOf(repo.repoDir, { signal, wrap }).catch(() => ({ id: '', message: '' }))
      : null;
    const custom = repo.repoDir
      ? await loadCustomInstructions(repo.repoDir, this.config.CUSTOM_INSTRUCTION_FILES)
      : { files: [], skipped: [] };
    for (const skipped of custom.skipped) log.warn({ file: skipped.entry, reason: skipped.reason }, 'custom instruction file skipped');
    return { repo, initialCommit, custom };
  }

  /** The task's CODEX_HOME: config.toml (and model catalog) for `model`, then its skills. */
  private async codexHomeOf(
    payload: TaskPayload,
    at: {
      codexHome: string;
      stateDir: string;
      model: Extract<ReturnType<typeof resolveModel>, { ok: true }>;
      mcp: ReturnType<typeof toCodexMcpServers>;
      log: Logger;
      signal?: AbortSignal;
    },
  ) {
    const { codexHome, stateDir, model, mcp, log, signal } = at;
    // Secret header values travel as environment variables named in env_http_headers.
    const headerEnv: Record<string, string> = {};
    const envHttpHeaders: Record<string, string> = {};
    Object.entries(model.secretHeaders).forEach(([name, value], i) => {
      const variable = `WEGENT_CODEX_HEADER_${i + 1}_KEY`;
      headerEnv[variable] = value;
      envHttpHeaders[name] = variable;
    });

    const mcpServers: Record<string, McpServerOptions> = {};
    for (const [name, server] of Object.entries(mcp.supported)) {
      mcpServers[name] =
        server.kind === 'stdio'
          ? { type: 'stdio', command: server.command, args: server.args, env: server.env }
          : { type: 'http', url: server.url, httpHeaders: server.headers };
    }

    const codexConfig = {
      model: model.modelId,
      modelContextWindow: payload.responses?.context_window ?? CONTEXT_WINDOW_FOR_CUSTOM_MODELS,
      serviceTier: payload.responses?.service_tier ?? undefined,
      provider: {
        baseUrl: model.baseUrl,
        // No key (missingApiKey let it through: a header carries the credential): no env_key either,
        // or Codex fails with "Missing environment variable", a name no user can act on.
        envKey: model.apiKey ? DEFAULT_API_KEY_ENV : null,
        httpHeaders: model.staticHeaders,
        envHttpHeaders,
        requestMaxRetries: this.config.CODEX_REQUEST_MAX_RETRIES,
        streamMaxRetries: this.config.CODEX_STREAM_MAX_RETRIES,
        streamIdleTimeoutMs: this.config.CODEX_STREAM_IDLE_TIMEOUT_MS,
      },
      mcpServers,
    };
    const files = await writeCodexHome({ codexHome, bin: this.codexBin, ...codexConfig });
    // A new home gets Codex's databases already migrated (a follow-up keeps its own).
    const seeded = this.plantSeed(codexHome, log);
    log.debug({ known_model: files.knownModel, seeded }, 'CODEX_HOME written');

    // Skills on every subtask (also for an empty agent_config: the service default model runs them).
    const backend = backendBaseUrl(this.config.TASK_API_DOMAIN, payload.backend_url);
    // The folder holds exactly this subtask's skills: emptied (kept when it already is), then filled.
    const skillsRoot = await emptyDirectory(stateDir, join(codexHome, 'skills'), 0o700);
    const names = payload.bot[0]?.skills ?? [];
    const skills: SkillInstallResult = names.length
      ? await installSkills({
          names,
          refs: payload.skill_refs,
          taskId: payload.task_id,
          authToken: payload.auth_token,
          apiDomain: backend,
          skillsRoot,
          logger: log,
          signal,
        })
      : { installed: [], failed: [] };
    for (const failure of skills.failed) log.warn({ skill: failure.name, reason: failure.error }, 'skill not installed');
    return { model, headerEnv, files, skills, codexConfig };
  }

  private plantSeed(codexHome: string, log: Logger): string[] {
    if (!this.seed) {
      void this.codexHomeSeed();
      return [];
    }
    try {
      return plantCodexHomeSeed(codexHome, this.seed);
    } catch (error) {
      log.warn(
        { err: error instanceof Error ? error.message : String(error) },
        "Codex's databases not prepared for this run: Codex makes them",
      );
      return [];
    }
  }

  /** A `file://` or local-path git_url (tests and the demo, ALLOW_FILE_GIT_URLS): git in the sandbox must read it. */
  private localRepositoryPaths(payload: TaskPayload): string[] {
    if (!this.config.ALLOW_FILE_GIT_URLS) return [];
    const path = localRepositoryBind(payload.git_url ?? '', this.root);
    return path ? [path] : [];
  }

  /**
   * `begun`: resolves once the run's `started` event is appended; what cannot be done twice (the
   * clone) waits for it, the rest is made meanwhile.
   */
  async prepare(payload: TaskPayload, options: { signal?: AbortSignal; begun?: Promise<unknown> } = {}): Promise<PreparedWorkspace> {
    const { signal, begun } = options;
    const log = this.logger.child({ task_id: payload.task_id, subtask_id: payload.subtask_id });
    // No run starts without its boundary (unless SANDBOX=off): the job fails with the reason.
    const launcher = await this.sandbox.require();
    const taskDir = this.taskDir(payload.task_id);
    // The service's own files of the task live outside the folder the agent works in, so `ls -la`
    // there shows the user's files only; the sandbox binds both (state: its own key, its history).
    const stateDir = this.stateDir(payload.task_id);
    const codexHome = join(stateDir, 'codex-home');
    const homeDir = join(stateDir, 'home');
    // The two trees from the root first (each part checked to be a real folder), then what lies in them.
    await settleAll([realDirectory(this.root, taskDir), realDirectory(this.root, join(stateDir, 'tmp'), 0o700)]);
    await settleAll([realDirectory(stateDir, homeDir, 0o700), realDirectory(stateDir, codexHome, 0o700)]);
    const readable = [dirname(dirname(this.codexBin)), ...this.localRepositoryPaths(payload)];
    const slot: WarmSlotView = {};
    const wrap = this.wrapperFor(launcher, taskDir, stateDir, readable, slot);

    const resolved = resolveModel(payload, {
      apiKey: this.config.OPENAI_API_KEY,
      model: this.config.CODEX_MODEL,
      baseUrl: this.config.OPENAI_BASE_URL,
    });
    if (!resolved.ok) throw new Error(resolved.error);
    const noKey = missingApiKey(resolved);
    if (noKey) throw new Error(noKey);
    for (const warning of resolved.warnings) log.warn(warning);

    const mcp = toCodexMcpServers(substitutePlaceholders(normalizeMcpServers(payload.bot[0]), payload));
    // The FE only shows such a server as failed; the reason names keys and types, never values.
    for (const server of mcp.unsupported) log.warn({ mcp_server: server.name, reason: server.reason }, 'MCP server skipped');

    // The repository and the task's CODEX_HOME/HOME are independent: made at once (both may wait
    // on the network: a clone, skills), and each waits for the other before a failure is thrown.
    let modelLease: ModelKeyLease | undefined;
    const [{ repo, initialCommit, custom }, { model, headerEnv, files, skills, codexConfig }] = await settleAll([
      this.repositoryOf(payload, { taskDir, stateDir, wrap, log, signal, begun }),
      settleAll([
        (async () => {
          // The service's default key never enters the sandbox: Codex gets a per-run lease on the worker's key proxy.
          if (resolved.source === 'default' && resolved.apiKey)
            modelLease = await this.modelKeys.open(resolved.baseUrl, resolved.apiKey, this.config.MAX_RUN_MS + 60_000);
          const model = modelLease ? { ...resolved, baseUrl: modelLease.baseUrl, apiKey: undefined } : resolved;
          return this.codexHomeOf(payload, { codexHome, stateDir, model, mcp, log, signal });
        })(),
        // Codex runs every command through `bash -lc`: empty profiles keep the login shell fast and
        // free of anything installed for the service user.
        ...['.profile', '.bashrc', '.bash_profile'].map((file) => replaceFile(join(homeDir, file), '', 0o644)),
      ]).then(([home]) => home),
    ]).catch((error: unknown) => {
      modelLease?.close();
      throw error;
    });
    const workDir = repo.workDir;
    const backend = backendBaseUrl(this.config.TASK_API_DOMAIN, payload.backend_url);

    // 2026: what the backend's pre-sync already put in the task folder is used as it is (§2.9).
    const synced = await splitPresynced(payload.attachments, taskDir);
    const attachments = await downloadAttachments({
      attachments: synced.toDownload,
      authToken: payload.auth_token,
      apiDomain: backend,
      // Outside the clone: the attachment folder is the task's, not the repository's.
      workDir: taskDir,
      taskId: payload.task_id,
      subtaskId: payload.subtask_id,
      logger: log,
      signal,
    });
    const hadAttachments = attachments.downloaded.length + attachments.failed.length > 0;
    const prompt = hadAttachments ? rewriteAttachments(payload.prompt ?? '', attachments) : (payload.prompt ?? '');
    const inputImages = await saveInputImages(payload.input_images, taskDir, payload.task_id, payload.subtask_id);
    for (const reason of inputImages.skipped) log.warn({ reason }, 'input image skipped');

    const passed = passedServiceEnv();
    const p = payload;
    const extraEnv = {
      ...passed,
      ...model.extraEnv,
      ...repo.gitEnv,
      // docs/protocol/wegent-protocol.md §11.6: the repository coordinates, for the agent's commands.
      GIT_DOMAIN: p.git_domain ?? '',
      GIT_REPO: p.git_repo ?? '',
      GIT_REPO_ID: p.git_repo_id === null || p.git_repo_id === undefined ? '' : String(p.git_repo_id),
      BRANCH_NAME: p.branch_name ?? '',
      GIT_URL: p.git_url ?? '',
    };
    const env = codexProcessEnv({
      home: homeDir,
      codexHome,
      apiKey: model.apiKey,
      envKey: DEFAULT_API_KEY_ENV,
      extra: { ...extraEnv, ...headerEnv },
    });
    // The same task for a warm process: what the file and the environment say, per thread.
    const commandEnv = { ...codexProcessEnv({ home: homeDir, codexHome, extra: extraEnv }) };
    delete commandEnv.PATH; // the process's own PATH, as cold commands inherit it
    const warm = {
      threadConfig: warmThreadConfig(
        { ...codexConfig, modelCatalogPath: files.catalogPath },
        { apiKey: model.apiKey, secretHeaders: model.secretHeaders },
        commandEnv,
      ),
      coldReason: skills.installed.length
        ? 'skills are installed into CODEX_HOME'
        : readable.length > 1
          ? 'a local repository must be readable'
          : undefined,
    };

    return {
      codexBin: this.codexBin,
      taskDir,
      stateDir,
      launch: wrap,
      slot,
      release: () => modelLease?.close(),
      workDir,
      codexHome,
      homeDir,
      env,
      model: model.modelId,
      developerInstructions: composeDeveloperInstructions(payload.bot[0]?.system_prompt ?? '', custom.files),
      prompt: appendPromptSuffix(prompt, workDir, payload.git_url ?? ''),
      images: [...imageInputs([...synced.presynced, ...attachments.downloaded]), ...inputImages.paths],
      imageUrls: inputImages.urls,
      attachmentsDownloaded: synced.presynced.length + attachments.downloaded.length,
      mcp,
      secrets: [...this.secretsOf(payload), ...repo.secrets],
      ...(repo.repoDir && initialCommit
        ? {
            git: () => readGitSnapshot({ repoDir: repo.repoDir!, initialCommit, sourceBranch: payload.branch_name ?? '', wrap }),
          }
        : {}),
      warm,
    };
  }
}
