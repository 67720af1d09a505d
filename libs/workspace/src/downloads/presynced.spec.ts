import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Attachment } from '@wegent-codex/contracts';
import { splitPresynced } from './attachments';
import { saveInputImages } from './input-images';

const SCRATCH = resolve(__dirname, '../../../../.data/test-downloads');

describe('2026 attachments and input images (docs/protocol/wegent-protocol-2026.md §2.5, §2.9)', () => {
  let root: string;
  let taskDir: string;

  beforeEach(async () => {
    await mkdir(SCRATCH, { recursive: true });
    root = await mkdtemp(join(SCRATCH, 'presynced-'));
    taskDir = join(root, '4711');
    await mkdir(join(taskDir, '4711:executor:attachments', '9902'), { recursive: true });
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const item = (id: number, fields: Partial<Attachment>): Attachment => ({ id, original_filename: `f${id}.txt`, ...fields }) as Attachment;

  it('uses files the pre-sync left in the task folder, leaves failed ones alone, downloads the rest', async () => {
    const synced = join(taskDir, '4711:executor:attachments', '9902', 'error.log');
    await writeFile(synced, 'log');
    await writeFile(join(root, 'elsewhere.txt'), 'secret of another task');
    await symlink(join(root, 'elsewhere.txt'), join(taskDir, 'link.txt'));

    const split = await splitPresynced(
      [
        item(1, { status: 'success', local_path: synced }),
        item(2, { status: 'failed', error: 'HTTP 404' }),
        item(3, { status: 'success', local_path: join(taskDir, 'missing.txt') }),
        item(4, { status: 'success', local_path: join(root, 'elsewhere.txt') }),
        item(5, { status: 'success', local_path: join(taskDir, 'link.txt') }),
        item(6, { status: 'success', local_path: '4711:executor:attachments/9902/error.log' }),
        item(7, { status: 'success', local_path: join(taskDir, '4711:executor:attachments') }),
        item(8, {}),
      ],
      taskDir,
    );

    expect(split.presynced.map((p) => [p.attachment.id, p.localPath])).toEqual([[1, synced]]);
    expect(split.failedBefore.map((a) => a.id)).toEqual([2]);
    expect(split.toDownload.map((a) => a.id)).toEqual([3, 4, 5, 6, 7, 8]);
  });

  it('writes data-URL images next to the attachments and passes http(s) URLs on', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const result = await saveInputImages(
      [
        `data:image/png;base64,${png.toString('base64')}`,
        'https://img.example.com/a.jpg',
        'data:text/html;base64,PGI+',
        'ftp://x/y.png',
        `data:image/JPEG;base64,${png.toString('base64')}`,
      ],
      taskDir,
      4711,
      9902,
    );
    const dir = join(taskDir, '4711:executor:attachments', '9902');
    expect(result).toEqual({
      paths: [join(dir, 'input-image-1.png'), join(dir, 'input-image-5.jpg')],
      urls: ['https://img.example.com/a.jpg'],
      skipped: [
        'image 3: not a base64 png/jpeg/gif/webp/bmp data URL or an http(s) URL',
        'image 4: not a base64 png/jpeg/gif/webp/bmp data URL or an http(s) URL',
      ],
    });
    expect(await readFile(join(dir, 'input-image-1.png'))).toEqual(png);
  });
});
