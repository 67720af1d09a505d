import { basename, resolve } from 'node:path';

// The modules themselves (not `import * as`, whose interop copy would be patched instead of the module).
import childProcess = require('node:child_process');
import fs = require('node:fs');
import net = require('node:net');

/**
 * Loaded before every spec of the unit tier (`*.spec.ts`, see jest.config.js). The unit tier runs on a fresh
 * clone with nothing else: no Redis, no Codex binary, no build. A unit spec that connects to Redis, starts
 * the Codex CLI or reads the built service is in the wrong tier; this makes the spec fail with a line that
 * says which tier it belongs to, instead of passing on a machine that happens to have Redis and `dist/`.
 */
const ROOT = resolve(__dirname, '../..');
const BUILD_DIRS = [resolve(ROOT, 'dist') + '/', resolve(ROOT, '.data/test-dist') + '/'];
const REDIS_PORTS = new Set([6379, Number(safeUrl(process.env.REDIS_URL)?.port || 6379)]);

export const violations: string[] = [];

function refuse(what: string, tier: string): never {
  const text = `unit tier: this spec ${what}; name it *.${tier}.spec.ts (see docs/en/testing.md)`;
  violations.push(text);
  throw new Error(text);
}

function safeUrl(value: string | undefined): URL | undefined {
  try {
    return value ? new URL(value) : undefined;
  } catch {
    return undefined;
  }
}

function isCodex(command: unknown): boolean {
  if (typeof command !== 'string') return false;
  return command.includes('@openai/codex') || /^codex(-[\w-]+)?$/.test(basename(command)) || command === process.env.CODEX_BIN;
}

function readsBuild(path: unknown): boolean {
  const text = path instanceof URL ? path.pathname : typeof path === 'string' ? resolve(path) : '';
  return BUILD_DIRS.some((dir) => text.startsWith(dir));
}

function checkCommand(command: unknown, args: unknown): void {
  if (isCodex(command)) refuse(`starts the Codex CLI (${String(command)})`, 'e2e');
  const list = Array.isArray(args) ? args : [];
  if (list.some(readsBuild)) refuse(`runs the built service (${list.join(' ')})`, 'e2e');
}

type Fn = (...args: any[]) => any;
const restore: Array<() => void> = [];
function wrap<T extends object>(target: T, name: keyof T & string, before: (...args: any[]) => void): void {
  const original = target[name] as unknown as Fn;
  const wrapped = function (this: unknown, ...args: unknown[]) {
    before(...args);
    return original.apply(this, args);
  };
  (target as Record<string, unknown>)[name] = wrapped;
  restore.push(() => ((target as Record<string, unknown>)[name] = original));
}

wrap(net.Socket.prototype, 'connect', (...args: unknown[]) => {
  const first = args[0] as { port?: unknown; path?: unknown } | unknown[] | number | string;
  const options = Array.isArray(first) ? (first[0] as { port?: unknown }) : first;
  const port = typeof options === 'object' && options !== null ? Number((options as { port?: unknown }).port) : Number(options);
  if (REDIS_PORTS.has(port)) refuse(`connects to Redis (port ${port})`, 'int');
});
for (const name of ['spawn', 'spawnSync', 'execFile', 'execFileSync'] as const)
  wrap(childProcess, name, (command, args) => checkCommand(command, args));
for (const name of ['exec', 'execSync'] as const)
  wrap(childProcess, name, (command) => checkCommand(String(command).split(/\s+/)[0], String(command).split(/\s+/)));
for (const name of ['readFileSync', 'existsSync', 'statSync', 'readdirSync'] as const) {
  wrap(fs, name, (path) => {
    if (readsBuild(path)) refuse(`reads the build (${String(path)})`, 'e2e');
  });
}
wrap(fs.promises, 'readFile', (path) => {
  if (readsBuild(path)) refuse(`reads the build (${String(path)})`, 'e2e');
});
// The build only exists for the e2e tier; a unit spec that looks for it finds nothing.
delete process.env.WEGENT_TEST_DIST;

afterAll(() => {
  for (const undo of restore.splice(0).reverse()) undo();
  if (violations.length) throw new Error(violations.join('\n'));
});
