import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AppServerClient } from './app-server-client';
import { resolveCodexBinary } from './codex-binary';
import { codexHomeSeed, plantCodexHomeSeed, type CodexHomeSeed } from './codex-home-seed';
import { renderWarmCodexConfig } from './codex-home';

const DATA_ROOT = resolve(__dirname, '../../../.data/test-codex');
jest.setTimeout(60_000);

/** Names of the seed's files, with `-wal` logs, as the pinned Codex (0.169.0) makes them in an empty home. */
const DATABASES = ['goals_1.sqlite', 'logs_2.sqlite', 'memories_1.sqlite', 'queue_1.sqlite', 'state_5.sqlite'];

describe('CODEX_HOME seed: Codex databases migrated once, copied into each new home', () => {
  const bin = resolveCodexBinary();
  let seed: CodexHomeSeed;
  let home: string;

  beforeAll(async () => {
    const errors: Error[] = [];
    seed = (await codexHomeSeed(bin, { onError: (error) => errors.push(error) }))!;
    expect(errors).toEqual([]);
  });
  beforeEach(async () => {
    await mkdir(DATA_ROOT, { recursive: true });
    home = await mkdtemp(join(DATA_ROOT, 'seeded-'));
  });
  afterEach(() => rm(home, { recursive: true, force: true }));

  it("holds the binary's databases and their logs, nothing else (no installation id, no shared memory, no config)", () => {
    const names = [...seed.files.keys()];
    expect(names.filter((name) => name.endsWith('.sqlite'))).toEqual(DATABASES);
    expect(names.every((name) => /^[a-z][a-z_]*_\d+\.sqlite(-wal)?$/.test(name))).toBe(true);
    for (const name of names.filter((n) => n.endsWith('-wal'))) expect(names).toContain(name.slice(0, -4));
  });

  it('is made once per binary: a second call gets the same seed', async () => {
    expect(await codexHomeSeed(bin)).toBe(seed);
  });

  it('nothing of the scratch home it was made in, of this host or of its environment is in it', () => {
    const all = Buffer.concat([...seed.files.values()]).toString('latin1');
    expect(all).not.toContain(tmpdir() + '/wegent-codex-seed-');
    expect(all).not.toContain('wegent-codex-seed');
    expect(all).not.toContain(process.env.PATH ?? '/usr/bin');
  });

  it('plants every database (and its log) into a new home, private, and a Codex started there works', async () => {
    expect(plantCodexHomeSeed(home, seed)).toEqual(DATABASES);
    for (const [name, content] of seed.files) {
      expect(await readFile(join(home, name))).toEqual(content);
      expect((await stat(join(home, name))).mode & 0o777).toBe(0o600);
    }
    await writeFile(join(home, 'config.toml'), renderWarmCodexConfig(), { mode: 0o600 });
    const client = await AppServerClient.start({ bin, cwd: home, env: { PATH: process.env.PATH ?? '', HOME: home, CODEX_HOME: home } });
    try {
      const thread = await client.threadStart({ model: 'gpt-5.5', cwd: home });
      expect(thread.thread.id).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      const exit = await client.shutdown({ graceMs: 3_000 });
      expect(exit.survivors).toEqual([]);
    }
  });

  it("a home's own database stays as it is; a stale log or shared-memory file of a missing one is replaced", async () => {
    await writeFile(join(home, 'state_5.sqlite'), 'the follow-up task’s own threads');
    await writeFile(join(home, 'logs_2.sqlite-wal'), 'stale log of a removed database');
    await writeFile(join(home, 'logs_2.sqlite-shm'), 'stale shared memory');
    expect(plantCodexHomeSeed(home, seed)).toEqual(DATABASES.filter((name) => name !== 'state_5.sqlite'));
    expect(await readFile(join(home, 'state_5.sqlite'), 'utf8')).toBe('the follow-up task’s own threads');
    expect(await readFile(join(home, 'logs_2.sqlite'))).toEqual(seed.files.get('logs_2.sqlite'));
    const wal = seed.files.get('logs_2.sqlite-wal');
    if (wal) expect(await readFile(join(home, 'logs_2.sqlite-wal'))).toEqual(wal);
    else await expect(lstat(join(home, 'logs_2.sqlite-wal'))).rejects.toThrow('ENOENT');
    await expect(lstat(join(home, 'logs_2.sqlite-shm'))).rejects.toThrow('ENOENT');
  });

  it('never writes through a symlink a task put in a database’s place, nor next to a folder standing as its log', async () => {
    const victim = await mkdtemp(join(DATA_ROOT, 'victim-'));
    try {
      await writeFile(join(victim, 'state.db'), 'another task’s database');
      await symlink(join(victim, 'state.db'), join(home, 'state_5.sqlite'));
      await mkdir(join(home, 'goals_1.sqlite-wal'));
      const planted = plantCodexHomeSeed(home, seed);
      expect(planted).not.toContain('state_5.sqlite');
      expect(planted).not.toContain('goals_1.sqlite');
      expect(await readFile(join(victim, 'state.db'), 'utf8')).toBe('another task’s database');
      expect(await readdir(victim)).toEqual(['state.db']);
      await expect(lstat(join(home, 'goals_1.sqlite'))).rejects.toThrow('ENOENT');
    } finally {
      await rm(victim, { recursive: true, force: true });
    }
  });

  it('a binary that cannot make one gives no seed, says why once, and is not tried again', async () => {
    const errors: Error[] = [];
    const missing = join(DATA_ROOT, 'no-such-codex');
    expect(await codexHomeSeed(missing, { onError: (error) => errors.push(error) })).toBeUndefined();
    expect(await codexHomeSeed(missing, { onError: (error) => errors.push(error) })).toBeUndefined();
    expect(errors).toHaveLength(1);
  });
});
