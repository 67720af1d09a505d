#!/usr/bin/env node
import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigError, loadConfig } from '@wegent-codex/contracts';
import { createLogger, embeddedRedisUrl, redisAnswers } from '@wegent-codex/runtime';
import { CliContext, processOutput, type CliOutput } from './cli-context';
import { cancelCommand } from './commands/cancel.command';
import { enqueueCommand } from './commands/enqueue.command';
import { replayCommand } from './commands/replay.command';
import { statusCommand } from './commands/status.command';
import { tailCommand } from './commands/tail.command';
import { ExitCode } from './exit-code';

export const USAGE = `usage: wegent-codex <command> [options]

commands:
  enqueue FILE.json|-     validate a Wegent task payload and enqueue it (- reads stdin); prints the job id
  status TASK [SUBTASK]   the subtasks of a task (state, progress, job), or one subtask in detail
  tail TASK [SUBTASK]     follow a subtask live (default: the task's latest): progress, commands,
                          the streamed answer; ends with the subtask (exit 0 done, 1 failed, 3 cancelled)
  cancel TASK             cancel every waiting or running subtask of the task
  replay TASK SUBTASK     send a finished subtask's callbacks again, with the same Idempotency-Keys

options:
  --json                  machine-readable output (enqueue, status, cancel)
  --to URL                replay: send to URL instead of CALLBACK_URL
  --dry-run               replay: list the callbacks and their keys, send nothing
  --wait                  tail: wait up to 60 s for a subtask that does not exist yet
  -h, --help              this text

Settings come from the environment, as for the service: REDIS_URL, REDIS_PREFIX, SECRETS_KEY
(must match the workers'), CALLBACK_URL, EXECUTOR_NAME … (docs/en/configuration.md).
`;

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  io?: CliOutput;
  /** Aborted on Ctrl-C: `tail` stops following, `replay` stops retrying. */
  signal?: AbortSignal;
  stdin?: () => Promise<string>;
}

/** `tail --wait`: how long a subtask may take to appear. */
const WAIT_MS = 60_000;

const ARITY: Record<string, [min: number, max: number]> = {
  enqueue: [1, 1],
  status: [1, 2],
  tail: [1, 2],
  cancel: [1, 1],
  replay: [2, 2],
};

/** Runs one CLI command in-process and returns its exit code. Never throws for bad input. */
export async function runCli(argv: string[], options: RunOptions = {}): Promise<number> {
  const io = options.io ?? processOutput;
  const env = options.env ?? process.env;
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (error) {
    io.err(`wegent-codex: ${(error as Error).message}\n\n${USAGE}`);
    return ExitCode.Usage;
  }
  if (args.values.help || args.positionals.length === 0) {
    (args.values.help ? io.out : io.err)(USAGE);
    return args.values.help ? ExitCode.Ok : ExitCode.Usage;
  }
  const [command, ...rest] = args.positionals;
  const arity = ARITY[command];
  if (!arity) {
    io.err(`wegent-codex: unknown command "${command}"\n\n${USAGE}`);
    return ExitCode.Usage;
  }
  if (rest.length < arity[0] || rest.length > arity[1]) {
    io.err(`wegent-codex: ${command} takes ${arity[0] === arity[1] ? arity[0] : `${arity[0]}-${arity[1]}`} argument(s)\n\n${USAGE}`);
    return ExitCode.Usage;
  }
  const ids = command === 'enqueue' ? [] : rest.map(toId);
  if (ids.some((id) => id === undefined)) {
    io.err(`wegent-codex: task and subtask ids are non-negative integers, got ${rest.join(' ')}\n`);
    return ExitCode.Usage;
  }

  let config;
  try {
    config = loadConfig(env);
    // `npm start`'s embedded Redis has a generated password (.data/redis/password).
    if (!env.REDIS_URL?.trim() && !env.REDIS_URL_FILE?.trim()) config.REDIS_URL = embeddedRedisUrl(config.REDIS_URL);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`wegent-codex: invalid configuration: ${error.message}\n`);
      return ExitCode.Usage;
    }
    throw error;
  }
  if (!(await redisAnswers(config.REDIS_URL, 2_000))) {
    io.err(`wegent-codex: cannot reach Redis at ${new URL(config.REDIS_URL).host}: set REDIS_URL to the service's Redis\n`);
    return ExitCode.Failed;
  }
  // Quiet by default: the commands print what matters; LOG_LEVEL=info shows the library's lines.
  const logger = createLogger(
    { LOG_LEVEL: env.LOG_LEVEL ? config.LOG_LEVEL : 'warn' },
    { component: 'cli' },
    pino.destination({ fd: 2, sync: true }),
  );
  const ctx = await CliContext.open(config, logger);
  try {
    const [task, subtask] = ids as number[];
    const json = args.values.json ?? false;
    switch (command) {
      case 'enqueue':
        return await enqueueCommand(ctx, rest[0], io, { json, stdin: options.stdin });
      case 'status':
        return await statusCommand(ctx, task, subtask, io, { json });
      case 'tail':
        return await tailCommand(ctx, task, subtask, io, { signal: options.signal, appearTimeoutMs: args.values.wait ? WAIT_MS : 0 });
      case 'cancel':
        return await cancelCommand(ctx, task, io, { json });
      default:
        return await replayCommand(ctx, task, subtask, io, { to: args.values.to, dryRun: args.values['dry-run'], signal: options.signal });
    }
  } finally {
    await ctx.close();
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      to: { type: 'string' },
      'dry-run': { type: 'boolean' },
      wait: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function toId(text: string): number | undefined {
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

if (require.main === module) {
  const controller = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(ExitCode.Interrupted);
    controller.abort();
  });
  runCli(process.argv.slice(2), { signal: controller.signal }).then(
    (code) => {
      process.exitCode = code;
      // Connections are closed by now; never let a stray handle keep an operator's shell waiting.
      setTimeout(() => process.exit(code), 2_000).unref();
    },
    (error: unknown) => {
      process.stderr.write(`wegent-codex: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(ExitCode.Failed);
    },
  );
}
