import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The operator docs: every relative link resolves, and every English page has its Chinese one. */
const root = resolve(__dirname, '../..');
const OPERATOR_PAGES = [
  'quick-start.md',
  'configuration.md',
  'architecture.md',
  'wegent-integration.md',
  'runbook.md',
  'monitoring.md',
  'security.md',
];

const pages = (lang: string) =>
  readdirSync(join(root, 'docs', lang))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', lang, f));

describe('docs', () => {
  it.each(OPERATOR_PAGES)('%s exists in English and Chinese', (page) => {
    expect(existsSync(join(root, 'docs/en', page))).toBe(true);
    expect(existsSync(join(root, 'docs/zh', page))).toBe(true);
  });

  it.each([...pages('en'), ...pages('zh'), 'README.md'])('%s: relative links resolve', (page) => {
    const text = readFileSync(join(root, page), 'utf8').replace(/```[\s\S]*?```/g, '');
    const broken = [...text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)]
      .map((m) => m[1])
      .filter((target) => !/^[a-z]+:/.test(target))
      .filter((target) => !existsSync(resolve(root, dirname(page), target)));
    expect(broken).toEqual([]);
  });

  it('the mermaid diagrams of the architecture page are fenced', () => {
    for (const lang of ['en', 'zh']) {
      const text = readFileSync(join(root, 'docs', lang, 'architecture.md'), 'utf8');
      expect(text.match(/```mermaid\n(flowchart|sequenceDiagram)/g)).toHaveLength(2);
    }
  });
});
