import type { Attachment } from '@wegent-codex/contracts';
import { appendPromptSuffix, attachmentDir, attachmentError, formatSize, rewriteAttachments, safeAttachmentName } from './prompt';

const attachment = (
  id: number,
  original_filename: string | null,
  mime_type: string | null = null,
  file_size: number | null = null,
): Attachment => ({
  id,
  original_filename,
  file_extension: null,
  file_size,
  mime_type,
});

describe('formatSize', () => {
  it.each([
    [0, '0 bytes'],
    [512, '512 bytes'],
    [1023, '1023 bytes'],
    [1024, '1.0 KB'],
    [1280, '1.2 KB'], // exactly 1.25: half to even (JavaScript's toFixed says 1.3)
    [1792, '1.8 KB'], // exactly 1.75: half to even rounds up here
    [2304, '2.2 KB'], // exactly 2.25
    [1331, '1.3 KB'], // 1.2998…: not a tie
    [20480, '20.0 KB'],
    [1048575, '1024.0 KB'],
    [1048576, '1.0 MB'],
    [1310720, '1.2 MB'], // exactly 1.25 MB
    [2621440, '2.5 MB'],
    [5_000_000_000, '4768.4 MB'],
  ])('%i → %s', (bytes, text) => expect(formatSize(bytes)).toBe(text));
});

describe('safeAttachmentName', () => {
  it.each([
    ['screenshot.png', 'screenshot.png'],
    ['../../etc/passwd', 'passwd'],
    ['/abs/path/report.pdf', 'report.pdf'],
    ['C:\\Users\\me\\notes.txt', 'notes.txt'],
    ['line\nbreak.txt', 'line_break.txt'],
    ['..hidden', '..hidden'],
    ['résumé 2025.docx', 'résumé 2025.docx'],
  ])('%j → %j', (original, name) => expect(safeAttachmentName(original)).toBe(name));

  it.each([null, undefined, '', '.', '..', 'dir/', 'a/..', 'nul\u0000.txt'])('%j → null', (original) => {
    expect(safeAttachmentName(original)).toBeNull();
  });
});

describe('attachmentDir', () => {
  it('uses the colon-separated folder name inside the work dir', () => {
    expect(attachmentDir('/ws/305/app', 305, 812)).toBe('/ws/305/app/305:executor:attachments/812');
  });
});

describe('rewriteAttachments', () => {
  const local = '/ws/305/app/305:executor:attachments/812/screenshot.png';

  it('rewrites markers and appends both lists, byte for byte', () => {
    const prompt = 'Fix the bug in [attachment:55], see [attachment:56], [attachment:007] and [attachment:99]. [Attachment:55] stays.';
    const out = rewriteAttachments(prompt, {
      downloaded: [{ attachment: attachment(55, 'screenshot.png', 'image/png', 20480), localPath: local }],
      failed: [
        { attachment: attachment(56, 'log.txt'), error: attachmentError.http(404) },
        { attachment: attachment(7, null), error: null },
      ],
    });
    expect(out).toBe(
      `Fix the bug in [Attachment downloaded to: ${local}], see [Attachment 56 unavailable - download failed], ` +
        '[Attachment 7 unavailable - download failed] and [Attachment 99 unavailable]. [Attachment:55] stays.' +
        '\n\n\u26A0\uFE0F The following attachments failed to download and are unavailable:' +
        '\n- log.txt (Error: HTTP 404)' +
        '\n- unknown (Error: Unknown error)' +
        '\n\n\u{1F4CE} Available attachments:' +
        `\n- screenshot.png (image/png, 20.0 KB): ${local}`,
    );
    expect(out).toContain('⚠️ The following');
    expect(out).toContain('📎 Available');
  });

  it('prints unknown name/mime and 0 bytes for missing values', () => {
    const out = rewriteAttachments('x', { downloaded: [{ attachment: attachment(1, null, null, null), localPath: '/p/f' }], failed: [] });
    expect(out).toBe('x\n\n\u{1F4CE} Available attachments:\n- unknown (unknown, 0 bytes): /p/f');
  });

  it('appends only the failed list when nothing downloaded', () => {
    const out = rewriteAttachments('see [attachment:3]', {
      downloaded: [],
      failed: [{ attachment: attachment(3, 'a.zip'), error: attachmentError.timeout }],
    });
    expect(out).toBe(
      'see [Attachment 3 unavailable - download failed]\n\n\u26A0\uFE0F The following attachments failed to download and are unavailable:\n- a.zip (Error: Download timeout)',
    );
  });

  it('leaves the prompt alone when no attachment was processed', () => {
    expect(rewriteAttachments('see [attachment:3]', { downloaded: [], failed: [] })).toBe('see [attachment:3]');
  });

  it('prefers a success over a failure for the same id', () => {
    const a = attachment(5, 'f.txt', 'text/plain', 10);
    const out = rewriteAttachments('[attachment:5]', {
      downloaded: [{ attachment: a, localPath: '/d/f.txt' }],
      failed: [{ attachment: a, error: 'IO error: x' }],
    });
    expect(out.startsWith('[Attachment downloaded to: /d/f.txt]\n\n')).toBe(true);
  });

  it('has the exact per-file error texts', () => {
    expect([
      attachmentError.missingFields,
      attachmentError.http(500),
      attachmentError.timeout,
      attachmentError.request('boom'),
      attachmentError.io('EACCES'),
    ]).toEqual([
      'Missing required fields (id or original_filename)',
      'HTTP 500',
      'Download timeout',
      'Request error: boom',
      'IO error: EACCES',
    ]);
  });
});

describe('appendPromptSuffix', () => {
  it.each([
    [
      'Fix it',
      '/ws/305/app',
      'https://github.com/alice/app.git',
      'Fix it\nCurrent working directory: /ws/305/app\n project url:https://github.com/alice/app.git',
    ],
    ['Hi', '/ws/306', '', 'Hi\nCurrent working directory: /ws/306\n project url:'],
    ['Hi', '/ws/306', null, 'Hi\nCurrent working directory: /ws/306\n project url:'],
  ])('%j', (prompt, cwd, gitUrl, expected) => expect(appendPromptSuffix(prompt, cwd, gitUrl)).toBe(expected));
});
