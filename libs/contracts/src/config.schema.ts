import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';

/**
 * The whole environment of the service as one zod schema: coerced, defaulted, validated at boot.
 * A bad value stops the process with a message naming the variable (formatConfigError).
 * docs/en/configuration.md is generated from the `describe()` texts below.
 */
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

export const configSchema = z
  .object({
    REDIS_URL: z
      .string()
      .url()
      .default('redis://127.0.0.1:6379')
      .describe('Redis for the queue, event streams, cancel flags and thread ids'),
    REDIS_PASSWORD: optionalString.describe(
      'Redis password (AUTH), when REDIS_URL carries none; with an ACL user, put the user in REDIS_URL (redis://user@host)',
    ),
    REDIS_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/)
      .default('wegent-codex')
      .describe('prefix of every Redis key the service writes (BullMQ queues included); one per deployment or test run'),
    HOST: z.string().default('127.0.0.1').describe('HTTP listen address'),
    PORT: int(10001, 0).pipe(z.number().max(65535)).describe('HTTP port (10001 is the Wegent executor port)'),
    CALLBACK_URL: optionalString
      .pipe(z.string().url().optional())
      .describe('executor_manager callback endpoint; empty: events stay in Redis and the relay idles'),
    EXECUTOR_NAME: z.string().default(hostname()).describe('echoed in every callback (2026: when the dispatch carries no executor_name)'),
    EXECUTOR_NAMESPACE: z.string().default('').describe('echoed in callbacks when non-empty'),
    WORKSPACE_ROOT: z.string().default('./.data/workspace').describe('one folder per task: clone, attachments, CODEX_HOME'),
    WORKER_CONCURRENCY: int(2, 1).describe('jobs one worker process runs at once'),
    CODEX_WARM_POOL: int(0, 0).describe(
      'ready, initialized codex app-server processes a worker keeps for new threads (0 = spawn one per job)',
    ),
    GLOBAL_CONCURRENCY: z.coerce.number().int().min(1).optional().describe('cap on running jobs across all workers'),
    API_TOKEN: optionalString.describe('when set, /api and /v1 need "Authorization: Bearer <token>"'),
    BOARD_USER: optionalString.describe('Basic auth user for Bull Board'),
    BOARD_PASSWORD: optionalString.describe('Basic auth password for Bull Board (set together with BOARD_USER)'),
    METRICS_PORT: z.coerce
      .number()
      .int()
      .min(0)
      .max(65535)
      .optional()
      .describe(
        'when set, a listener on HOST:METRICS_PORT serves GET /metrics only (for worker/relay processes, which have no HTTP API); unset: off',
      ),
    OTEL_EXPORTER_OTLP_ENDPOINT: optionalString
      .pipe(z.string().url().optional())
      .describe(
        'OpenTelemetry collector; when set, the BullMQ queue and worker emit spans (bullmq-otel) through the OTel SDK preloaded into the process',
      ),
    TASK_API_DOMAIN: optionalString
      .pipe(z.string().url().optional())
      .describe("Wegent backend, for skills and attachments; unset: a 2026 task's metadata.backend_url, else http://wegent-backend:8000"),
    GIT_TOKEN_AES_KEY: z.string().default('12345678901234567890123456789012').describe('AES-256 key for user.git_token'),
    GIT_TOKEN_AES_IV: z.string().default('1234567890123456').describe('AES IV for user.git_token'),
    CODEX_BIN: optionalString.describe('override the Codex CLI binary (default: the native binary of @openai/codex)'),
    OPENAI_API_KEY: optionalString.describe('default model api key (tasks whose agent_config has no model)'),
    CODEX_MODEL: optionalString.describe('default model id'),
    OPENAI_BASE_URL: z.string().url().default('https://api.openai.com/v1').describe('default model endpoint (Responses API)'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level'),
    SECRETS_KEY: optionalString.describe('key that encrypts payload secrets at rest in Redis; unset: stored in the clear (warned at boot)'),
    MAX_PAYLOAD_BYTES: int(5 * 1024 * 1024, 1024).describe('largest accepted task payload (413 above)'),
    CALLBACK_COALESCE_MS: int(300).describe('at most one text-only RUNNING callback per subtask in this interval'),
    CALLBACK_TIMEOUT_MS: int(30_000, 100).describe('timeout of one callback POST'),
    CALLBACK_RETRY_BASE_MS: int(1_000, 1).describe('first retry delay of a failed callback (doubles, with jitter)'),
    CALLBACK_RETRY_MAX_MS: int(60_000, 1).describe('longest delay between two callback retries'),
    CALLBACK_RETRY_FOR_MS: int(24 * 3_600_000, 1_000).describe('how long a callback is retried before it is given up (and logged)'),
    EXECUTOR_MANAGER_HEARTBEAT_BASE_URL: optionalString
      .pipe(z.string().url().optional())
      .describe('2026 protocol: heartbeats go to <base>/tasks/{task_id}/heartbeat; unset: CALLBACK_URL without its trailing /callback'),
    HEARTBEAT_INTERVAL_MS: int(10_000, 100).describe(
      '2026 protocol: one heartbeat per running task this often (the first at once); EM deems a task dead after ~20 s',
    ),
    WORKER_LIVENESS_TTL_MS: int(5_000, 1_000).describe(
      'a worker process renews its liveness key five times per this period (from a thread of its own); when the key has expired, the relay ends its running jobs FAILED "worker lost" (2026: error executor_crash) within TTL plus two renewal periods',
    ),
    RELAY_CLAIM_IDLE_MS: int(30_000, 100).describe('pending relay entries idle this long are claimed by another relay'),
    CODEX_IDLE_TIMEOUT_MS: int(10 * 60_000, 100).describe('a run with no Codex notification for this long fails'),
    MAX_RUN_MS: int(2 * 3_600_000, 1_000).describe('longest run of one job'),
    CANCEL_GRACE_MS: int(3_000, 0).describe('after turn/interrupt, how long Codex gets before its process tree is killed'),
    SHUTDOWN_GRACE_MS: int(30_000, 0).describe('on SIGTERM, how long running jobs may finish'),
    JOB_LOCK_MS: int(60_000, 5_000).describe(
      'BullMQ lock duration; a job whose worker is gone is stalled after it (the fallback: a dead worker is normally found through WORKER_LIVENESS_TTL_MS)',
    ),
    CODEX_REQUEST_MAX_RETRIES: int(4).describe('Codex provider request_max_retries'),
    CODEX_STREAM_MAX_RETRIES: int(5).describe('Codex provider stream_max_retries'),
    CODEX_STREAM_IDLE_TIMEOUT_MS: int(300_000, 100).describe('Codex provider stream_idle_timeout_ms'),
    ALLOW_FILE_GIT_URLS: bool(false).describe('allow file:// and local-path git_url (tests only)'),
    CUSTOM_INSTRUCTION_FILES: z
      .string()
      .default('.cursorrules,.windsurfrules')
      .describe('repository files appended to the developer instructions'),
    REPO_PROXY_CONFIG: optionalString.describe('JSON: per git domain http.proxy / https.proxy'),
    EMBEDDED_REDIS: z
      .enum(['auto', 'never'])
      .default('auto')
      .describe('npm start: start redis-server from PATH when REDIS_URL is unset and nothing answers'),
    SANDBOX: z
      .enum(['bwrap', 'off'])
      .default('bwrap')
      .describe(
        'boundary around every Codex run and the git the worker runs on task files: bwrap (bubblewrap, default) or off (development only: tasks can read each other and this process — logged at every boot)',
      ),
    SANDBOX_READABLE_PATHS: z
      .string()
      .default('')
      .transform((v) =>
        v
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().startsWith('/', 'must be absolute paths')))
      .describe(
        'comma-separated absolute host paths every sandboxed run may read (tools or MCP servers outside /usr); never a folder holding secrets or other tasks',
      ),
    RUN_LIMITS: z
      .enum(['auto', 'cgroup', 'rlimit', 'off'])
      .default('auto')
      .describe(
        'how per-run limits are enforced: auto (a cgroup per run where this process may create one — v2 delegated subtree or v1 as root — else rlimits), cgroup (refuse runs without one), rlimit (rlimits only: no memory or CPU limit), off (development only)',
      ),
    RUN_MEMORY_MB: int(1536, 64).describe(
      'memory of one run (Codex and every command it starts), MiB; over it the run ends failed (cgroup only)',
    ),
    RUN_PIDS: int(256, 16).describe('processes and threads of one run (cgroup: the run alone; rlimit: per user, counted across runs)'),
    RUN_CPUS: z.coerce
      .number()
      .min(0.1)
      .default(1)
      .describe('CPU time one run may use, in cores (cgroup only; a spinning run is slowed, not stopped)'),
    RUN_DISK_MB: int(4096, 16).describe(
      "the task folder's size, MiB (one file: RLIMIT_FSIZE; the folder: measured every RUN_DISK_CHECK_MS); over it the run ends failed",
    ),
    RUN_DISK_CHECK_MS: int(10_000, 500).describe('how often the task folder is measured while a run goes'),
    RUN_OPEN_FILES: int(1024, 64).describe('open files of one process of a run (RLIMIT_NOFILE)'),
    RUN_OUTPUT_KB: int(1024, 16).describe(
      "command output one subtask may add to its events, KiB; past it, output is replaced by a marker (each command's output is capped at 64 KiB as well)",
    ),
  })
  .superRefine((config, ctx) => {
    // One of the two alone is a slip, not a choice: the board would stay loopback-only while the
    // operator believes it takes a password.
    if (Boolean(config.BOARD_USER) !== Boolean(config.BOARD_PASSWORD)) {
      const missing = config.BOARD_USER ? 'BOARD_PASSWORD' : 'BOARD_USER';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'BOARD_USER and BOARD_PASSWORD must be set together' });
    }
  });

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super(issues.map((i) => `${i.variable}: ${i.message}`).join('; '));
    this.name = 'ConfigError';
  }
}

/**
 * Variables holding a service secret (or a URL that may carry a password). Each may also be given
 * as a file, `<NAME>_FILE` (Kubernetes secret mounts, Docker secrets), and all of them leave the
 * process environment after boot (removeSecretsFromEnv).
 */
export const SECRET_VARIABLES = [
  'SECRETS_KEY',
  'GIT_TOKEN_AES_KEY',
  'GIT_TOKEN_AES_IV',
  'API_TOKEN',
  'BOARD_PASSWORD',
  'OPENAI_API_KEY',
  'CALLBACK_URL',
  'REDIS_URL',
  'REDIS_PASSWORD',
] as const;

/** `NAME` from `NAME_FILE` (one trailing newline dropped); both set is a slip, not a choice. */
function secretsFromFiles(env: NodeJS.ProcessEnv): { values: Record<string, string>; issues: { variable: string; message: string }[] } {
  const values: Record<string, string> = {};
  const issues: { variable: string; message: string }[] = [];
  for (const name of SECRET_VARIABLES) {
    const file = env[`${name}_FILE`]?.trim();
    if (!file) continue;
    if (env[name]?.trim()) {
      issues.push({ variable: `${name}_FILE`, message: `set either ${name} or ${name}_FILE, not both` });
      continue;
    }
    try {
      values[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      issues.push({ variable: `${name}_FILE`, message: `cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})` });
    }
  }
  return { values, issues };
}

/**
 * Deletes every secret variable (and its `_FILE` twin) from `env` — after boot, so no child that
 * inherits process.env by mistake gets one. /proc/<pid>/environ keeps the start-up environment
 * for the process's life: the per-run sandbox (own PID namespace) is what hides it from tasks.
 */
export function removeSecretsFromEnv(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of SECRET_VARIABLES) {
    delete env[name];
    delete env[`${name}_FILE`];
  }
}

/** Parse the environment; throws ConfigError naming each bad variable (never its value). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const files = secretsFromFiles(env);
  if (files.issues.length) throw new ConfigError(files.issues);
  const known = Object.fromEntries(Object.keys(configSchema.shape).map((k) => [k, files.values[k] ?? env[k]]));
  const parsed = configSchema.safeParse(known);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? '?'), message: i.message })));
  }
  const config = parsed.data;
  // One URL for every connection (BullMQ, ioredis, the CLI): the password goes into it.
  if (config.REDIS_PASSWORD) {
    const url = new URL(config.REDIS_URL);
    if (!url.password) {
      url.password = encodeURIComponent(config.REDIS_PASSWORD);
      config.REDIS_URL = url.toString();
    }
  }
  return config;
}
