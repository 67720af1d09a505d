import { lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppServerClient } from './app-server-client';
import { CONFIG_FILE, renderWarmCodexConfig } from './codex-home';

/**
 * Codex 0.169 makes six SQLite databases in a new CODEX_HOME (state, logs, goals, memories,
 * queue, …) and runs their migrations while it starts: on this project's machines 100–250 ms of
 * a cold spawn → initialize, most of it the state database's 62 migrations with an fsync each.
 *
 * The seed is those databases as `codex app-server` leaves them in an empty home after one
 * initialize: schema and migration records, no thread, no log line, nothing of any task (the
 * process that makes it has no task, model or key). It is made once per worker process and
 * binary, kept in memory, and written into a task's CODEX_HOME before Codex first starts there,
 * so Codex opens migrated databases instead of building them. Every home gets its own copy; a
 * home that has a database already (a follow-up's, with its threads) keeps it untouched.
 */
export interface CodexHomeSeed {
  /** Main database files and their write-ahead logs, by file name. */
  files: ReadonlyMap<string, Buffer>;
}

/** A database file or its write-ahead log (`state_5.sqlite`, `state_5.sqlite-wal`); never `-shm`, never anything else. */
const SEED_FILE = /^[a-z][a-z_]*_\d+\.sqlite(-wal)?$/;
const SEED_TIMEOUT_MS = 30_000;

const seeds = new Map<string, Promise<CodexHomeSeed | undefined>>();

/**
 * The seed of `bin`, made on the first call (one `codex app-server` initialize in a scratch home,
 * at most SEED_TIMEOUT_MS); later calls get the same promise. A failure resolves to undefined and
 * is not retried in this process (`onError` is told once): Codex then makes its databases itself.
 */
export function codexHomeSeed(bin: string, options: { onError?: (error: Error) => void } = {}): Promise<CodexHomeSeed | undefined> {
  let pending = seeds.get(bin);
  if (!pending) {
    pending = makeSeed(bin).catch((error: unknown) => {
      options.onError?.(error instanceof Error ? error : new Error(String(error)));
      return undefined;
    });
    seeds.set(bin, pending);
  }
  return pending;
}

async function makeSeed(bin: string): Promise<CodexHomeSeed> {
  const home = await mkdtemp(join(tmpdir(), 'wegent-codex-seed-'));
  try {
    // The service-wide flags of every task's config (analytics off, the same features), no model.
    await writeFile(join(home, CONFIG_FILE), renderWarmCodexConfig(), { mode: 0o600 });
    const client = await AppServerClient.start({
      bin,
      cwd: home,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, CODEX_HOME: home },
      requestTimeoutMs: SEED_TIMEOUT_MS,
    });
    const exit = await client.shutdown({ graceMs: 5_000 });
    if (exit.survivors.length > 0) throw new Error(`seed codex app-server left processes: ${exit.survivors.join(', ')}`);
    const files = new Map<string, Buffer>();
    for (const name of readdirSync(home).sort()) {
      if (SEED_FILE.test(name) && lstatSync(join(home, name)).isFile()) files.set(name, readFileSync(join(home, name)));
    }
    const databases = [...files.keys()].filter((name) => name.endsWith('.sqlite'));
    if (databases.length === 0) throw new Error('seed codex app-server made no database');
    for (const name of files.keys()) {
      if (name.endsWith('-wal') && !files.has(name.slice(0, -'-wal'.length))) files.delete(name); // a log without its database
    }
    return { files };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/**
 * Writes the seed's databases into `codexHome` (the service's own folder of the task, already a
 * real directory): each database only where the home has none, with its write-ahead log, after
 * removing a stale log or shared-memory file of that name. A name standing as a folder is left
 * alone (Codex then fails on it as it would have). Synchronous: a few small files, on the way to
 * Codex's spawn. Returns the databases written.
 */
export function plantCodexHomeSeed(codexHome: string, seed: CodexHomeSeed): string[] {
  const planted: string[] = [];
  for (const [name, content] of seed.files) {
    if (!name.endsWith('.sqlite')) continue;
    const path = join(codexHome, name);
    if (exists(path)) continue;
    const companions = ['-wal', '-shm', '-journal'].map((suffix) => `${path}${suffix}`);
    if (companions.some((companion) => isDirectory(companion))) continue;
    for (const companion of companions) rmSync(companion, { force: true });
    writeFileSync(path, content, { mode: 0o600, flag: 'wx' });
    const wal = seed.files.get(`${name}-wal`);
    if (wal) writeFileSync(`${path}-wal`, wal, { mode: 0o600, flag: 'wx' });
    planted.push(name);
  }
  return planted;
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}
