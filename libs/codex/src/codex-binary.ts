import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Where the native Codex binary lives (docs/protocol/codex-cli-notes.md §1). The npm package `@openai/codex`
 * ships a Node launcher; the real binary comes in a platform package declared as an optional
 * dependency. Spawning it directly gives the real PID, which the process-tree kill needs.
 */

/** Rust target triple of each platform package, as in `@openai/codex/bin/codex.js`. */
export const CODEX_TARGET_TRIPLES: Readonly<Record<string, string>> = {
  'linux-x64': 'x86_64-unknown-linux-musl',
  'linux-arm64': 'aarch64-unknown-linux-musl',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
  'win32-x64': 'x86_64-pc-windows-msvc',
  'win32-arm64': 'aarch64-pc-windows-msvc',
};

export class CodexBinaryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodexBinaryError';
  }
}

export interface ResolveCodexBinaryOptions {
  /** An explicit binary path (the CODEX_BIN setting); wins over the package lookup. */
  override?: string;
  platform?: NodeJS.Platform;
  arch?: string;
}

/**
 * The absolute path of the Codex binary: `override` (or `$CODEX_BIN`) when set, otherwise
 * `<@openai/codex-<platform>-<arch>>/vendor/<triple>/bin/codex`. Throws CodexBinaryError saying
 * what to install or set when nothing executable is found.
 */
export function resolveCodexBinary(options: ResolveCodexBinaryOptions = {}): string {
  const override = options.override ?? process.env.CODEX_BIN;
  if (override && override.trim()) {
    assertExecutable(override, `CODEX_BIN=${override} is not an executable file`);
    return override;
  }
  const platform = options.platform ?? process.platform;
  const arch = options.arch ?? process.arch;
  const triple = CODEX_TARGET_TRIPLES[`${platform}-${arch}`];
  if (!triple) {
    throw new CodexBinaryError(`Codex has no native binary for ${platform}-${arch}; set CODEX_BIN to a codex executable`);
  }
  const packageName = `@openai/codex-${platform}-${arch}`;
  const packageJson = resolvePackageJson(packageName);
  if (!packageJson) {
    throw new CodexBinaryError(
      `${packageName} is not installed (an optional dependency of @openai/codex); run npm install without --omit=optional, or set CODEX_BIN`,
    );
  }
  const binary = join(dirname(packageJson), 'vendor', triple, 'bin', platform === 'win32' ? 'codex.exe' : 'codex');
  assertExecutable(binary, `${packageName} is installed but ${binary} is missing or not executable; reinstall it or set CODEX_BIN`);
  return binary;
}

/** Looks from this module first, then from `@openai/codex` (package managers that do not hoist). */
function resolvePackageJson(packageName: string): string | undefined {
  const attempts: (() => string)[] = [
    () => require.resolve(`${packageName}/package.json`),
    () => createRequire(require.resolve('@openai/codex/package.json')).resolve(`${packageName}/package.json`),
  ];
  for (const attempt of attempts) {
    try {
      return attempt();
    } catch {
      // try the next location
    }
  }
  return undefined;
}

function assertExecutable(path: string, message: string): void {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new CodexBinaryError(message);
  }
}
