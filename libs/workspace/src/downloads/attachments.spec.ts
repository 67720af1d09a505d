import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Attachment } from '@wegent-codex/contracts';
import { FakeWegentBackend } from '../../../../test/fixtures/fake-wegent-backend';
import { memoryLogger } from '../../../../test/support/memory-logger';
import { rewriteAttachments } from '../prompt';
import { downloadAttachments, fileNames, imageInputs, type DownloadAttachmentsOptions } from './attachments';

const SCRATCH = resolve(__dirname, '../../../../.data/test-downloads');
const TOKEN = 'attachment-secret-token';

const attachment = (
  id: number,
  original_filename: string | null,
  mime_type: string | null = 'application/octet-stream',
  file_size: number | null = null,
): Attachment => ({
  id,
  original_filename,
  file_extension: null,
  file_size,
  mime_type,
});

describe('downloadAttachments', () => {
  let workDir: string;
  let backend: FakeWegentBackend;
  let log: ReturnType<typeof memoryLogger>;

  beforeEach(async () => {
    await mkdir(SCRATCH, { recursive: true });
    workDir = await mkdtemp(join(SCRATCH, 'attachments-'));
    backend = await FakeWegentBackend.start({ token: TOKEN });
    log = memoryLogger();
  });
  afterEach(async () => {
    await backend.close();
    await rm(workDir, { recursive: true, force: true });
  });

  const download = (attachments: Attachment[], overrides: Partial<DownloadAttachmentsOptions> = {}) =>
    downloadAttachments({
      attachments,
      authToken: TOKEN,
      apiDomain: backend.apiDomain,
      workDir,
      taskId: 7,
      subtaskId: 42,
      logger: log.logger,
      ...overrides,
    });
  const dir = () => join(workDir, '7:executor:attachments', '42');

  it('streams each file to <workDir>/<task_id>:executor:attachments/<subtask_id>/<name>', async () => {
    backend.setAttachment(1, { body: 'hello world' });
    backend.setAttachment(2, { body: Buffer.from([0x89, 0x50, 0x4e, 0x47]) });
    const a1 = attachment(1, 'notes.txt', 'text/plain', 11);
    const a2 = attachment(2, 'shot.png', 'image/png', 4);

    const result = await download([a1, a2]);

    expect(result).toEqual({
      downloaded: [
        { attachment: a1, localPath: `${workDir}/7:executor:attachments/42/notes.txt` },
        { attachment: a2, localPath: `${workDir}/7:executor:attachments/42/shot.png` },
      ],
      failed: [],
    });
    expect(await readFile(join(dir(), 'notes.txt'), 'utf8')).toBe('hello world');
    expect(await readFile(join(dir(), 'shot.png'))).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    expect(backend.requests.map((r) => [r.url, r.authorization])).toEqual([
      ['/api/attachments/1/executor-download', `Bearer ${TOKEN}`],
      ['/api/attachments/2/executor-download', `Bearer ${TOKEN}`],
    ]);
    expect((await readdir(dir())).sort()).toEqual(['notes.txt', 'shot.png']);
  });

  it('keeps only the base name of traversal names', async () => {
    backend.setAttachment(1, { body: 'one' });
    backend.setAttachment(2, { body: 'two' });
    const result = await download([attachment(1, '../../../etc/passwd'), attachment(2, 'C:\\Users\\me\\..\\evil.txt')]);
    expect(result.downloaded.map((d) => d.localPath)).toEqual([join(dir(), 'passwd'), join(dir(), 'evil.txt')]);
    expect(result.failed).toEqual([]);
    expect((await readdir(dir())).sort()).toEqual(['evil.txt', 'passwd']);
    expect(await readdir(workDir)).toEqual(['7:executor:attachments']);
  });

  it('gives repeated names a (2), (3) suffix instead of overwriting', async () => {
    backend.setAttachment(1, { body: 'first' });
    backend.setAttachment(2, { body: 'second' });
    backend.setAttachment(3, { body: 'third' });
    const result = await download([attachment(1, 'a/report.pdf'), attachment(2, 'b/report.pdf'), attachment(3, 'report.pdf')]);
    expect(result.downloaded.map((d) => d.localPath)).toEqual([
      join(dir(), 'report.pdf'),
      join(dir(), 'report (2).pdf'),
      join(dir(), 'report (3).pdf'),
    ]);
    expect(await readFile(join(dir(), 'report.pdf'), 'utf8')).toBe('first');
    expect(await readFile(join(dir(), 'report (2).pdf'), 'utf8')).toBe('second');
  });

  it('replaces a file left by an earlier attempt', async () => {
    await mkdir(dir(), { recursive: true });
    await writeFile(join(dir(), 'notes.txt'), 'stale');
    backend.setAttachment(1, { body: 'fresh' });
    await download([attachment(1, 'notes.txt')]);
    expect(await readFile(join(dir(), 'notes.txt'), 'utf8')).toBe('fresh');
  });

  it('reports HTTP <status> and writes nothing', async () => {
    backend.setAttachment(2, { status: 500 });
    const missing = attachment(1, 'gone.txt');
    const broken = attachment(2, 'broken.txt');
    const result = await download([missing, broken]);
    expect(result).toEqual({
      downloaded: [],
      failed: [
        { attachment: missing, error: 'HTTP 404' },
        { attachment: broken, error: 'HTTP 500' },
      ],
    });
    expect(await readdir(dir())).toEqual([]);
  });

  it('reports Download timeout when the backend stays silent', async () => {
    backend.setAttachment(1, { body: 'late', delayMs: 5_000 });
    backend.setAttachment(2, { body: 'quick' });
    const late = attachment(1, 'late.txt');
    const result = await download([late, attachment(2, 'quick.txt')], { timeoutMs: 100 });
    expect(result.failed).toEqual([{ attachment: late, error: 'Download timeout' }]);
    expect(result.downloaded.map((d) => d.localPath)).toEqual([join(dir(), 'quick.txt')]);
  });

  it('reports Request error: … when the backend is unreachable', async () => {
    const down = await FakeWegentBackend.start();
    const apiDomain = down.apiDomain;
    await down.close();
    const result = await download([attachment(1, 'a.txt')], { apiDomain });
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0].error).toMatch(/^Request error: fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
  });

  it('removes the partial file when the connection breaks mid-body', async () => {
    backend.setAttachment(1, { body: Buffer.alloc(256 * 1024, 1), cutAfterBytes: 1024 });
    const result = await download([attachment(1, 'big.bin')]);
    expect(result.downloaded).toEqual([]);
    expect(result.failed[0].error).toMatch(/^Request error: /);
    expect(await readdir(dir())).toEqual([]);
  });

  it('refuses a file over maxBytes, leaving no file', async () => {
    backend.setAttachment(1, { body: Buffer.alloc(10_000, 1) });
    const result = await download([attachment(1, 'big.bin')], { maxBytes: 1_000 });
    expect(result.failed.map((f) => f.error)).toEqual(['File too large: more than 1000 bytes']);
    expect(await readdir(dir())).toEqual([]);
  });

  it('stops a body without Content-Length at maxBytes and removes the part file', async () => {
    backend.setAttachment(1, { body: Buffer.alloc(64 * 1024, 1), chunked: true });
    const result = await download([attachment(1, 'big.bin')], { maxBytes: 10_000 });
    expect(result.failed.map((f) => f.error)).toEqual(['File too large: more than 10000 bytes']);
    expect(await readdir(dir())).toEqual([]);
  });

  it('reports IO error: … when the file cannot be put in place', async () => {
    await mkdir(join(dir(), 'taken.txt', 'child'), { recursive: true });
    backend.setAttachment(1, { body: 'data' });
    const result = await download([attachment(1, 'taken.txt')]);
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0].error).toMatch(/^IO error: E[A-Z]+: /);
    expect((await readdir(dir())).sort()).toEqual(['taken.txt']);
  });

  it('reports IO error: … for every file when the directory cannot be created', async () => {
    const fileAsWorkDir = join(workDir, 'not-a-dir');
    await writeFile(fileAsWorkDir, '');
    const result = await download([attachment(1, 'a.txt'), attachment(2, 'b.txt')], { workDir: fileAsWorkDir });
    expect(result.failed.map((f) => f.error)).toEqual([
      expect.stringMatching(/^IO error: EEXIST: /),
      expect.stringMatching(/^IO error: EEXIST: /),
    ]);
    expect(backend.requests).toEqual([]);
  });

  it('reports missing fields without asking the backend', async () => {
    const cases = [attachment(0, 'zero-id.txt'), attachment(1, null), attachment(2, ''), attachment(3, '..'), attachment(4, 'a\u0000b')];
    const result = await download(cases);
    expect(result.failed.map((f) => f.error)).toEqual(Array(cases.length).fill('Missing required fields (id or original_filename)'));
    expect(backend.requests).toEqual([]);
  });

  it('reports every attachment failed without an auth_token (as ClaudeCode counts them), and skips an empty list', async () => {
    for (const authToken of [null, undefined, '', ' ']) {
      expect(await download([attachment(1, 'a.txt')], { authToken })).toEqual({
        downloaded: [],
        failed: [{ attachment: attachment(1, 'a.txt'), error: 'No auth token available, cannot download attachments' }],
      });
    }
    expect(await download([])).toEqual({ downloaded: [], failed: [] });
    expect(
      await downloadAttachments({
        attachments: null,
        authToken: TOKEN,
        apiDomain: backend.apiDomain,
        workDir,
        taskId: 7,
        subtaskId: 42,
        logger: log.logger,
      }),
    ).toEqual({ downloaded: [], failed: [] });
    expect(backend.requests).toEqual([]);
    expect(await readdir(workDir)).toEqual([]);
  });

  it('reports Download cancelled once the signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await download([attachment(1, 'a.txt')], { signal: controller.signal });
    expect(result.failed.map((f) => f.error)).toEqual(['Download cancelled']);
    expect(backend.requests).toEqual([]);
  });

  it('never logs the token', async () => {
    backend.setAttachment(1, { body: 'x' });
    await download([attachment(1, 'a.txt'), attachment(2, 'b.txt')]);
    const text = log.lines.join('');
    expect(text).toContain('attachment downloaded');
    expect(text).toContain('attachment not downloaded');
    expect(text).not.toContain(TOKEN);
  });

  it('feeds rewriteAttachments the exact §11.9 prompt', async () => {
    backend.setAttachment(11, { body: Buffer.alloc(1280, 1) });
    const image = attachment(11, 'diagram.png', 'image/png', 1280);
    const gone = attachment(12, '../secret/plan.pdf', 'application/pdf', 2048);

    const result = await download([image, gone]);
    const prompt = rewriteAttachments('See [attachment:11], [attachment:12] and [attachment:13].', result);

    const path = `${workDir}/7:executor:attachments/42/diagram.png`;
    expect(prompt).toBe(
      `See [Attachment downloaded to: ${path}], [Attachment 12 unavailable - download failed] and [Attachment 13 unavailable].` +
        '\n\n\u26A0\uFE0F The following attachments failed to download and are unavailable:' +
        '\n- ../secret/plan.pdf (Error: HTTP 404)' +
        '\n\n\u{1F4CE} Available attachments:' +
        `\n- diagram.png (image/png, 1.2 KB): ${path}`,
    );
  });
});

describe('fileNames', () => {
  const named = (...names: (string | null)[]) => names.map((n, i) => attachment(i + 1, n));

  it.each([
    [
      ['a.txt', 'b.txt'],
      ['a.txt', 'b.txt'],
    ],
    [
      ['x/a.txt', 'y/a.txt', 'a.txt'],
      ['a.txt', 'a (2).txt', 'a (3).txt'],
    ],
    [
      ['.env', '.env'],
      ['.env', '.env (2)'],
    ],
    [
      ['a (2).txt', 'a.txt', 'a.txt'],
      ['a (2).txt', 'a.txt', 'a (3).txt'],
    ],
    [
      ['Makefile', 'Makefile'],
      ['Makefile', 'Makefile (2)'],
    ],
    [
      [null, '..', 'ok'],
      [null, null, 'ok'],
    ],
  ])('%j → %j', (originals, expected) => expect(fileNames(named(...originals))).toEqual(expected));
});

describe('imageInputs', () => {
  it('keeps png/jpeg/jpg/gif/webp/bmp by extension, in order', () => {
    const downloaded = [
      '/d/a.png',
      '/d/b.JPG',
      '/d/c.jpeg',
      '/d/d.gif',
      '/d/e.webp',
      '/d/f.bmp',
      '/d/g.svg',
      '/d/h.pdf',
      '/d/png',
      '/d/i.tiff',
    ].map((localPath, i) => ({
      attachment: attachment(i + 1, localPath.slice(3)),
      localPath,
    }));
    expect(imageInputs(downloaded)).toEqual(['/d/a.png', '/d/b.JPG', '/d/c.jpeg', '/d/d.gif', '/d/e.webp', '/d/f.bmp']);
  });

  it('is empty without images', () => expect(imageInputs([])).toEqual([]));
});
