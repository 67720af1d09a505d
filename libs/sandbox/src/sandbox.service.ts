import { Global, Inject, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import type { Config } from '@wegent-codex/contracts';
import { CONFIG, LOGGER, type Logger } from '@wegent-codex/runtime';
import { BwrapLauncher, UnsandboxedLauncher } from './bwrap-launcher';
import type { SandboxLauncher } from './launch-spec';
import { probeSandbox, type SandboxStatus } from './sandbox-probe';

/** A failed probe is retried at most this often (an operator may fix the node meanwhile). */
const REPROBE_MS = 30_000;

export class SandboxUnavailableError extends Error {
  override readonly name = 'SandboxUnavailableError';
}

/** The launcher a SANDBOX / SANDBOX_READABLE_PATHS configuration asks for. */
export function launcherFor(config: Pick<Config, 'SANDBOX' | 'SANDBOX_READABLE_PATHS'>): SandboxLauncher {
  if (config.SANDBOX === 'off') return new UnsandboxedLauncher();
  return new BwrapLauncher({ readable: config.SANDBOX_READABLE_PATHS });
}

/**
 * The worker's sandbox: probed at boot, asked before every run. A run never starts without the
 * boundary unless the operator turned it off (SANDBOX=off), which is logged at every boot.
 */
@Injectable()
export class SandboxService implements OnModuleInit {
  readonly launcher: SandboxLauncher;
  private status: SandboxStatus | undefined;
  private probedAt = 0;
  private probing: Promise<SandboxStatus> | undefined;

  constructor(
    @Inject(CONFIG) config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.launcher = launcherFor(config);
  }

  async onModuleInit(): Promise<void> {
    if (this.launcher.kind === 'none') {
      this.logger.warn(
        "SANDBOX=off: task commands run WITHOUT a sandbox — every task can read other tasks' folders and this process's environment. Development only; never in production.",
      );
    }
    const status = await this.probe();
    if (status.ok && status.kind === 'bwrap') this.logger.info('task sandbox ready (bubblewrap)');
  }

  /** The last probe's result (a failing one is re-run at most every 30 s). */
  async current(): Promise<SandboxStatus> {
    if (!this.status || (!this.status.ok && Date.now() - this.probedAt > REPROBE_MS)) return this.probe();
    return this.status;
  }

  /** The launcher, or a SandboxUnavailableError whose message says why (the job fails with it). */
  async require(): Promise<SandboxLauncher> {
    const status = await this.current();
    if (!status.ok) throw new SandboxUnavailableError(`the task sandbox cannot start: ${status.reason}`);
    return this.launcher;
  }

  private probe(): Promise<SandboxStatus> {
    this.probing ??= probeSandbox(this.launcher).then((status) => {
      this.status = status;
      this.probedAt = Date.now();
      this.probing = undefined;
      if (!status.ok)
        this.logger.error(
          { reason: status.reason },
          'task sandbox unavailable: jobs fail until it works (or set SANDBOX=off for development)',
        );
      return status;
    });
    return this.probing;
  }
}

/** Global, so /readyz of a process that also runs the worker role can report the sandbox. */
@Global()
@Module({ providers: [SandboxService], exports: [SandboxService] })
export class SandboxModule {}
