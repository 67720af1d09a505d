import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { upToDate } = require('./build-if-changed.js') as { upToDate(root: string): boolean };

/** Seconds since the epoch, for utimes: every timestamp below is written out, none taken from the clock. */
const T = { built: 1_800_000_000, before: 1_799_999_000, after: 1_800_000_500 };

describe("npm start's build step: is the last build current?", () => {
  let root: string;

  const at = async (path: string, seconds: number) => utimes(join(root, path), seconds, seconds);
  const file = async (path: string, seconds: number) => {
    await writeFile(join(root, path), '');
    await at(path, seconds);
  };

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'build-if-changed-'));
    for (const dir of ['apps/api/src', 'libs/codex/src', 'test/fixtures', 'dist/node_modules/@wegent-codex', 'node_modules/x'])
      await mkdir(join(root, dir), { recursive: true });
    await file('apps/api/src/main.ts', T.before);
    await file('libs/codex/src/toml.ts', T.before);
    await file('tsconfig.json', T.before);
    await file('dist/.build-stamp', T.built);
    // Folders count too (a deleted file changes its folder): all older than the build.
    for (const dir of ['apps', 'apps/api', 'apps/api/src', 'libs', 'libs/codex', 'libs/codex/src', 'test/fixtures'])
      await at(dir, T.before);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('is current when every input is older than the stamp of the last good build', () => {
    expect(upToDate(root)).toBe(true);
  });

  it('is stale when a source file changed after the build', async () => {
    await at('libs/codex/src/toml.ts', T.after);
    expect(upToDate(root)).toBe(false);
  });

  it('is stale when a file was deleted or added (its folder changed)', async () => {
    await at('apps/api/src', T.after);
    expect(upToDate(root)).toBe(false);
  });

  it('is stale when a tsconfig changed', async () => {
    await at('tsconfig.json', T.after);
    expect(upToDate(root)).toBe(false);
  });

  it('ignores specs (not built) and anything under node_modules', async () => {
    await file('libs/codex/src/toml.spec.ts', T.after);
    await at('libs/codex/src', T.before);
    await file('node_modules/x/index.ts', T.after);
    expect(upToDate(root)).toBe(true);
  });

  it('is stale without a stamp (never built, or the last build failed) or without the lib aliases', async () => {
    await rm(join(root, 'dist/.build-stamp'));
    expect(upToDate(root)).toBe(false);
    await file('dist/.build-stamp', T.built);
    await rm(join(root, 'dist/node_modules/@wegent-codex'), { recursive: true });
    expect(upToDate(root)).toBe(false);
  });
});
