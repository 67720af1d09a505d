import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as yauzl from 'yauzl';
import { errorText } from './backend-http';

/**
 * Safe extraction of a skill zip (`<name>/SKILL.md` + files, docs/protocol/wegent-protocol.md §11.8).
 *
 * The whole zip is refused when any entry is unsafe, before anything is written: a name that is
 * absolute, contains `..` or a backslash, or would land outside the root (zip-slip); a symlink or
 * other special entry; more entries or more uncompressed bytes than the limits (zip bomb — the
 * declared sizes can be trusted because yauzl checks every entry's real size against them).
 * Only the entries under `<name>/` are extracted (a zip cannot overwrite another skill or
 * `.system`), into a staging folder renamed into place at the end, so a failure leaves nothing.
 */

export interface ZipLimits {
  /** Size of the downloaded zip itself (it is held in memory). */
  maxZipBytes: number;
  maxEntries: number;
  /** Sum of the entries' uncompressed sizes. */
  maxUncompressedBytes: number;
}

export const DEFAULT_ZIP_LIMITS: Readonly<ZipLimits> = {
  maxZipBytes: 50 * 1024 * 1024,
  maxEntries: 10_000,
  maxUncompressedBytes: 256 * 1024 * 1024,
};

/** A zip refused as a whole; the message says which entry and why. */
export class UnsafeZipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeZipError';
  }
}

const SKILL_NAME = /^[A-Za-z0-9_.-]{1,255}$/;

/**
 * Why `name` cannot be a skill folder, or null. Besides `.` and `..`, every name starting with a
 * dot is refused: `.system` belongs to Codex and the staging folders are dot-named.
 */
export function invalidSkillName(name: string): string | null {
  if (!SKILL_NAME.test(name)) return `invalid skill name ${JSON.stringify(name)} (allowed: A-Z a-z 0-9 _ . -)`;
  if (name.startsWith('.')) return `invalid skill name ${JSON.stringify(name)} (must not start with ".")`;
  return null;
}

/** Why an entry name is unsafe, or null when it is fine. */
export function unsafeEntryName(name: string): string | null {
  if (name === '') return 'empty entry name';
  if (name.includes('\u0000')) return `NUL in entry name ${JSON.stringify(name)}`;
  if (name.includes('\\')) return `backslash in entry name ${JSON.stringify(name)}`;
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return `absolute entry name ${JSON.stringify(name)}`;
  if (name.includes('..')) return `".." in entry name ${JSON.stringify(name)}`;
  return null;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const MADE_BY_UNIX = 3;

interface CheckedEntry {
  entry: yauzl.Entry;
  name: string;
  directory: boolean;
  executable: boolean;
}

export interface ExtractedSkill {
  /** `<root>/<name>`. */
  path: string;
  files: number;
  bytes: number;
  hasSkillMd: boolean;
  /** Entries outside `<name>/`, not extracted. */
  ignored: number;
}

/**
 * Extracts `<name>/…` of `zip` into `<root>/<name>`, replacing what was there. Throws
 * UnsafeZipError (refused), `Invalid zip: …` (unreadable) or `IO error: …` (disk).
 */
export async function extractSkillZip(
  zip: Buffer,
  name: string,
  root: string,
  limits: ZipLimits = DEFAULT_ZIP_LIMITS,
  signal?: AbortSignal,
): Promise<ExtractedSkill> {
  const badName = invalidSkillName(name);
  if (badName) throw new Error(badName);
  const zipfile = await yauzl
    .fromBufferPromise(zip, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true, strictFileNames: true })
    .catch((error: unknown) => {
      throw invalidZip(error);
    });
  try {
    const entries = await checkedEntries(zipfile, limits);
    const prefix = `${name}/`;
    const wanted = entries.filter((e) => e.name.startsWith(prefix));
    if (wanted.length === 0) throw new Error(`no "${prefix}" folder in the zip`);

    const staging = await io(() => mkdtemp(join(root, `.${name}.extracting-`)));
    try {
      let bytes = 0;
      for (const item of wanted) {
        signal?.throwIfAborted();
        const target = resolve(staging, item.name);
        if (!isInside(staging, target)) throw new UnsafeZipError(`entry ${JSON.stringify(item.name)} resolves outside the skills root`);
        if (item.directory) {
          await io(() => mkdir(target, { recursive: true }));
          continue;
        }
        await io(() => mkdir(dirname(target), { recursive: true }));
        const stream = await zipfile.openReadStreamPromise(item.entry).catch((error: unknown) => {
          throw invalidZip(error);
        });
        await pipeline(stream, createWriteStream(target, { flags: 'wx', mode: item.executable ? 0o755 : 0o644 }), { signal }).catch(
          (error: unknown) => {
            throw isSystemError(error) ? ioError(error) : invalidZip(error);
          },
        );
        bytes += item.entry.uncompressedSize;
      }
      const extracted = join(staging, name);
      const destination = join(root, name);
      if (!(await isDirectory(extracted))) throw new Error(`no "${prefix}" folder in the zip`);
      await io(() => rm(destination, { recursive: true, force: true }));
      await io(() => rename(extracted, destination));
      return {
        path: destination,
        files: wanted.filter((e) => !e.directory).length,
        bytes,
        hasSkillMd: await isFile(join(destination, 'SKILL.md')),
        ignored: entries.length - wanted.length,
      };
    } finally {
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    }
  } finally {
    zipfile.close();
  }
}

/** Reads the central directory and refuses the zip on the first unsafe entry or exceeded limit. */
async function checkedEntries(zipfile: yauzl.ZipFile, limits: ZipLimits): Promise<CheckedEntry[]> {
  if (zipfile.entryCount > limits.maxEntries)
    throw new UnsafeZipError(`${zipfile.entryCount} entries, more than the limit of ${limits.maxEntries}`);
  const checked: CheckedEntry[] = [];
  const seen = new Set<string>();
  let total = 0;
  try {
    for await (const entry of zipfile.eachEntry()) {
      // decodeStrings is off so that yauzl neither rewrites backslashes nor refuses names with its
      // own wording: the name is decoded here (UTF-8 flag, Info-ZIP unicode path, else CP437).
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
      const unsafe = unsafeEntryName(name);
      if (unsafe) throw new UnsafeZipError(unsafe);
      if (seen.has(name)) throw new UnsafeZipError(`duplicate entry ${JSON.stringify(name)}`);
      seen.add(name);
      const mode = (entry.externalFileAttributes >>> 16) & 0xffff;
      const type = mode & S_IFMT;
      if (type === S_IFLNK) throw new UnsafeZipError(`symlink entry ${JSON.stringify(name)}`);
      if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) throw new UnsafeZipError(`special file entry ${JSON.stringify(name)}`);
      total += entry.uncompressedSize;
      if (total > limits.maxUncompressedBytes)
        throw new UnsafeZipError(`uncompressed size over the limit of ${limits.maxUncompressedBytes} bytes`);
      const unix = entry.versionMadeBy >>> 8 === MADE_BY_UNIX;
      checked.push({ entry, name, directory: name.endsWith('/'), executable: unix && (mode & 0o111) !== 0 });
    }
  } catch (error) {
    throw error instanceof UnsafeZipError ? error : invalidZip(error);
  }
  return checked;
}

function isInside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

const invalidZip = (error: unknown) => new Error(`Invalid zip: ${errorText(error)}`);
const ioError = (error: unknown) => new Error(`IO error: ${errorText(error)}`);
/** Node's file-system errors carry the failing `syscall`; zlib and yauzl errors do not. */
const isSystemError = (error: unknown) => typeof (error as { syscall?: unknown } | null)?.syscall === 'string';

async function io<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw ioError(error);
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isDirectory() ?? false;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isFile() ?? false;
}
