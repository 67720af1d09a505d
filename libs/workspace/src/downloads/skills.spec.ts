import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  bombZip,
  buildZip,
  FakeWegentBackend,
  skillMd,
  skillZip,
  symlinkZip,
  zipSlipZip,
} from '../../../../test/fixtures/fake-wegent-backend';
import { memoryLogger } from '../../../../test/support/memory-logger';
import { installSkills, skillError, type InstallSkillsOptions } from './skills';
import { DEFAULT_ZIP_LIMITS } from './skill-zip';

const SCRATCH = resolve(__dirname, '../../../../.data/test-downloads');
const TOKEN = 'secret-auth-token-123';

describe('installSkills', () => {
  let base: string;
  let skillsRoot: string;
  let backend: FakeWegentBackend;
  let log: ReturnType<typeof memoryLogger>;

  beforeEach(async () => {
    await mkdir(SCRATCH, { recursive: true });
    base = await mkdtemp(join(SCRATCH, 'skills-'));
    skillsRoot = join(base, 'codex-home', 'skills');
    backend = await FakeWegentBackend.start({ token: TOKEN });
    log = memoryLogger();
  });
  afterEach(async () => {
    await backend.close();
    await rm(base, { recursive: true, force: true });
  });

  const install = (overrides: Partial<InstallSkillsOptions> = {}) =>
    installSkills({ names: [], authToken: TOKEN, apiDomain: backend.apiDomain, skillsRoot, logger: log.logger, ...overrides });
  const listRoot = async () => (await readdir(skillsRoot)).sort();

  it('installs each skill as <root>/<name>/SKILL.md through the two-call protocol', async () => {
    backend.setSkill('alpha', { zip: await skillZip('alpha', { 'scripts/run.sh': 'echo alpha' }), id: '41' });
    backend.setSkill('beta', { zip: await skillZip('beta'), id: '42' });

    const result = await install({ names: ['alpha', 'beta', 'alpha'] });

    expect(result).toEqual({ installed: ['alpha', 'beta'], failed: [] });
    expect(await readFile(join(skillsRoot, 'alpha', 'SKILL.md'), 'utf8')).toBe(skillMd('alpha'));
    expect(await readFile(join(skillsRoot, 'alpha', 'scripts', 'run.sh'), 'utf8')).toBe('echo alpha');
    expect(await readFile(join(skillsRoot, 'beta', 'SKILL.md'), 'utf8')).toBe(skillMd('beta'));
    expect(backend.requests.map((r) => r.url)).toEqual([
      '/api/v1/kinds/skills?name=alpha',
      '/api/v1/kinds/skills/41/download',
      '/api/v1/kinds/skills?name=beta',
      '/api/v1/kinds/skills/42/download',
    ]);
    expect(backend.requests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(await listRoot()).toEqual(['alpha', 'beta']);
  });

  it('downloads a skill with a 2026 reference by id (namespace and task_id in the query), without the lookup', async () => {
    backend.setSkill('alpha', { zip: await skillZip('alpha'), id: '310' });
    backend.setSkill('beta', { zip: await skillZip('beta'), id: '42' });

    const result = await install({ names: ['alpha', 'beta'], refs: { alpha: { skill_id: '310', namespace: 'team-ns' } }, taskId: 4711 });

    expect(result).toEqual({ installed: ['alpha', 'beta'], failed: [] });
    expect(backend.requests.map((r) => r.url)).toEqual([
      '/api/v1/kinds/skills/310/download?namespace=team-ns&task_id=4711',
      '/api/v1/kinds/skills?name=beta',
      '/api/v1/kinds/skills/42/download',
    ]);
  });

  it('keeps .system and removes the skills installed before', async () => {
    await mkdir(join(skillsRoot, '.system', 'imagegen'), { recursive: true });
    await writeFile(join(skillsRoot, '.system', 'imagegen', 'SKILL.md'), 'built-in');
    await mkdir(join(skillsRoot, 'old-skill'));
    await writeFile(join(skillsRoot, 'old-skill', 'SKILL.md'), 'old');
    await writeFile(join(skillsRoot, 'stray-file.txt'), 'x');
    backend.setSkill('fresh', { zip: await skillZip('fresh') });

    const result = await install({ names: ['fresh'] });

    expect(result.installed).toEqual(['fresh']);
    expect(await listRoot()).toEqual(['.system', 'fresh']);
    expect(await readFile(join(skillsRoot, '.system', 'imagegen', 'SKILL.md'), 'utf8')).toBe('built-in');
  });

  it('wipes the old skills even when nothing is to be installed', async () => {
    await mkdir(join(skillsRoot, 'old-skill'), { recursive: true });
    expect(await install({ names: [] })).toEqual({ installed: [], failed: [] });
    expect(await listRoot()).toEqual([]);
    expect(backend.requests).toEqual([]);
  });

  it('skips a skill the backend does not know and installs the rest', async () => {
    backend.setSkill('known', { zip: await skillZip('known') });
    const result = await install({ names: ['missing', 'known'] });
    expect(result).toEqual({ installed: ['known'], failed: [{ name: 'missing', error: skillError.notFound }] });
    expect(await listRoot()).toEqual(['known']);
  });

  it.each([
    ['lookup', { lookupStatus: 500 }, 'lookup: HTTP 500'],
    ['download', { downloadStatus: 500 }, 'download: HTTP 500'],
  ])('reports HTTP 500 on the %s', async (_step, statuses, error) => {
    backend.setSkill('flaky', { zip: await skillZip('flaky'), ...statuses });
    expect(await install({ names: ['flaky'] })).toEqual({ installed: [], failed: [{ name: 'flaky', error }] });
    expect(await listRoot()).toEqual([]);
  });

  it('refuses a zip-slip zip and writes nothing outside (or inside) the root', async () => {
    backend.setSkill('evil', { zip: await zipSlipZip('evil', 'evil/../../../escaped.txt') });
    backend.setSkill('good', { zip: await skillZip('good') });

    const result = await install({ names: ['evil', 'good'] });

    expect(result.installed).toEqual(['good']);
    expect(result.failed).toEqual([{ name: 'evil', error: '".." in entry name "evil/../../../escaped.txt"' }]);
    expect(await listRoot()).toEqual(['good']);
    expect((await readdir(base, { recursive: true })).map(String).filter((p) => p.includes('escaped'))).toEqual([]);
  });

  it('refuses a symlink entry', async () => {
    backend.setSkill('linky', { zip: await symlinkZip('linky') });
    expect((await install({ names: ['linky'] })).failed).toEqual([{ name: 'linky', error: 'symlink entry "linky/link"' }]);
    expect(await listRoot()).toEqual([]);
  });

  it('refuses a zip bomb under the configured limits', async () => {
    backend.setSkill('bomb', { zip: await bombZip('bomb', { bytesPerEntry: 2 * 1024 * 1024 }) });
    const result = await install({ names: ['bomb'], limits: { maxUncompressedBytes: 1024 * 1024 } });
    expect(result.failed).toEqual([{ name: 'bomb', error: 'uncompressed size over the limit of 1048576 bytes' }]);
  });

  it('refuses a download bigger than maxZipBytes', async () => {
    backend.setSkill('big', { zip: await skillZip('big', { 'data.bin': Buffer.alloc(4096, 7) }) });
    const result = await install({ names: ['big'], limits: { ...DEFAULT_ZIP_LIMITS, maxZipBytes: 100 } });
    expect(result.failed).toEqual([{ name: 'big', error: 'download: File too large: more than 100 bytes' }]);
  });

  it('reports a body that is not a zip', async () => {
    backend.setSkill('broken', { zip: 'this is not a zip' });
    const result = await install({ names: ['broken'] });
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0].error).toMatch(/^Invalid zip: /);
    expect(await listRoot()).toEqual([]);
  });

  it('reports a zip without the <name>/ folder', async () => {
    backend.setSkill('renamed', { zip: await skillZip('OtherName') });
    expect((await install({ names: ['renamed'] })).failed).toEqual([{ name: 'renamed', error: 'no "renamed/" folder in the zip' }]);
  });

  it('installs a skill without SKILL.md but warns about it', async () => {
    backend.setSkill('bare', { zip: await buildZip([{ name: 'bare/notes.txt', data: 'x' }]) });
    expect((await install({ names: ['bare'] })).installed).toEqual(['bare']);
    expect(log.lines.join('')).toContain('skill has no SKILL.md');
  });

  it('skips everything, with the reason, when there is no auth_token', async () => {
    for (const authToken of [null, undefined, '', '   ']) {
      const result = await install({ names: ['a', 'b'], authToken });
      expect(result).toEqual({
        installed: [],
        failed: [
          { name: 'a', error: skillError.noToken },
          { name: 'b', error: skillError.noToken },
        ],
      });
    }
    expect(backend.requests).toEqual([]);
  });

  it('refuses invalid names without asking the backend', async () => {
    const result = await install({ names: ['../etc', '.system', 'ok name'] });
    expect(result.installed).toEqual([]);
    expect(result.failed.map((f) => f.name)).toEqual(['../etc', '.system', 'ok name']);
    expect(result.failed.every((f) => f.error.startsWith('invalid skill name'))).toBe(true);
    expect(backend.requests).toEqual([]);
  });

  it('rejects a wrong token (the backend answers 401)', async () => {
    backend.setSkill('alpha', { zip: await skillZip('alpha') });
    expect((await install({ names: ['alpha'], authToken: 'wrong' })).failed).toEqual([{ name: 'alpha', error: 'lookup: HTTP 401' }]);
  });

  it('reports an unreachable backend as a request error', async () => {
    const down = await FakeWegentBackend.start();
    const apiDomain = down.apiDomain;
    await down.close();
    const result = await install({ names: ['alpha'], apiDomain });
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0].error).toMatch(/^lookup: Request error: .*ECONNREFUSED/);
  });

  it('stops when the signal is aborted', async () => {
    backend.setSkill('alpha', { zip: await skillZip('alpha') });
    const controller = new AbortController();
    controller.abort();
    expect(await install({ names: ['alpha'], signal: controller.signal })).toEqual({
      installed: [],
      failed: [{ name: 'alpha', error: skillError.cancelled }],
    });
  });

  it('never logs the token', async () => {
    backend.setSkill('alpha', { zip: await skillZip('alpha') });
    await install({ names: ['alpha', 'missing', '..'] });
    await install({ names: ['alpha'], authToken: 'wrong' });
    const text = log.lines.join('');
    expect(text).toContain('skill installed');
    expect(text).toContain('skill not installed');
    expect(text).not.toContain(TOKEN);
  });
});
