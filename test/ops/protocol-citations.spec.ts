import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/**
 * Comments and docs cite the protocol facts they rely on (`docs/protocol/wegent-protocol.md §5.3`).
 * Every citation must resolve in this repository: the file exists and has a heading for the section.
 * A citation without the `docs/protocol/` path (a file a reader of the repo does not have) fails too.
 */
const root = resolve(__dirname, '../..');
const CITATION = /(?<![\w.-])((?:docs\/protocol\/)?)(wegent-protocol-2026|wegent-protocol|codex-cli-notes)(\.md)?\s?§\s?(\d+(?:\.\d+)*)/g;
const SCANNED = ['apps', 'libs', 'test', 'bench', 'scripts', 'docker', 'k8s', '.ci', 'docs/en', 'docs/zh'];
const SKIP = new Set(['node_modules', 'dist', '.data', '.stryker-tmp', 'reports', 'coverage']);

function files(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) files(full, out);
    else if (/\.(ts|js|mjs|sh|py|ya?ml|md)$|\/(run|Dockerfile)$/.test(full)) out.push(full);
  }
  return out;
}

const headingsCache = new Map<string, string[]>();
function headings(doc: string): string[] {
  if (!headingsCache.has(doc)) {
    const path = join(root, doc);
    headingsCache.set(
      doc,
      existsSync(path)
        ? readFileSync(path, 'utf8')
            .split('\n')
            .filter((line) => /^#{1,6}\s/.test(line))
        : [],
    );
  }
  return headingsCache.get(doc)!;
}

/** Problems with the citations in `text` (empty: every one resolves). */
export function unresolvedCitations(text: string, where: string): string[] {
  const problems: string[] = [];
  for (const match of text.matchAll(CITATION)) {
    const [cited, prefix, name, ext, section] = match;
    const doc = `docs/protocol/${name}.md`;
    const line = text.slice(0, match.index).split('\n').length;
    if (!prefix || !ext) {
      problems.push(`${where}:${line}: "${cited}" — cite it as "${doc} §${section}" (a path in this repository)`);
      continue;
    }
    if (!existsSync(join(root, doc))) {
      problems.push(`${where}:${line}: "${cited}" — ${doc} does not exist`);
      continue;
    }
    const heading = new RegExp(`^#{1,6}\\s+${section.replace(/\./g, '\\.')}\\.?(\\s|$)`);
    if (!headings(doc).some((h) => heading.test(h))) problems.push(`${where}:${line}: "${cited}" — ${doc} has no heading for §${section}`);
  }
  return problems;
}

describe('protocol citations', () => {
  it('every citation in code, tests and docs resolves to a heading of docs/protocol/', () => {
    const problems = SCANNED.flatMap((dir) => files(join(root, dir))).flatMap((file) =>
      unresolvedCitations(readFileSync(file, 'utf8'), relative(root, file)),
    );
    expect(problems).toEqual([]);
  });

  it('there are citations to check (the scan sees them)', () => {
    const count = files(join(root, 'libs')).reduce((n, file) => n + [...readFileSync(file, 'utf8').matchAll(CITATION)].length, 0);
    expect(count).toBeGreaterThan(20);
  });

  it('reports a missing path, a missing file and a missing section', () => {
    // Built from pieces so that neither the scan above nor the citation codemod rewrites them.
    const WP = ['wegent', 'protocol'].join('-');
    const CN = ['codex', 'cli', 'notes'].join('-');
    const P = 'docs/protocol/';
    expect(unresolvedCitations(`see ${WP}.md §2.9`, 'x.ts')).toEqual([
      `x.ts:1: "${WP}.md §2.9" — cite it as "${P}${WP}.md §2.9" (a path in this repository)`,
    ]);
    expect(unresolvedCitations(`(${CN} §8)`, 'a.md')).toEqual([
      `a.md:1: "${CN} §8" — cite it as "${P}${CN}.md §8" (a path in this repository)`,
    ]);
    expect(unresolvedCitations(`\n ${P}${WP}.md §99.1`, 'y.ts')).toEqual([
      `y.ts:2: "${P}${WP}.md §99.1" — ${P}${WP}.md has no heading for §99.1`,
    ]);
    expect(unresolvedCitations(`${P}${WP}.md §5.3 and ${P}${CN}.md §15.2`, 'z.ts')).toEqual([]);
    // §1 is "## 1. End-to-end flow", not the "### 1.6" that merely starts with 1.
    expect(unresolvedCitations(`${P}${WP}.md §1`, 'z.ts')).toEqual([]);
    expect(unresolvedCitations(`${P}${WP}.md §1.9`, 'z.ts')).toEqual([
      `z.ts:1: "${P}${WP}.md §1.9" — ${P}${WP}.md has no heading for §1.9`,
    ]);
  });
});
