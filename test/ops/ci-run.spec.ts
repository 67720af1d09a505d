import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * CI is the newcomer's path: `.ci/run` runs the README's "Checks" commands, in the README's order, and
 * nothing else that a reader of the README would not run (no build before the tests).
 */
const root = resolve(__dirname, '../..');

function readmeChecks(): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.split(/^### Checks\b.*$/m)[1];
  if (!section) throw new Error('README.md has no "### Checks" section');
  const block = /```bash\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error('the "Checks" section of README.md has no ```bash block');
  return block[1]
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter(Boolean);
}

/** The commands `.ci/run` runs as checks: its `run …` lines, in order. */
function ciCommands(): string[] {
  const script = readFileSync(join(root, '.ci/run'), 'utf8');
  return script
    .split('\n')
    .filter((line) => /^run\s+/.test(line))
    .map((line) => line.trim().replace(/^run\s+/, ''));
}

describe('.ci/run', () => {
  it('runs the README commands in the README order', () => {
    expect(readmeChecks()).toEqual([
      'npm ci',
      'npm run lint',
      'npm run format:check',
      'npm test',
      'npm run test:e2e:warm',
      'npm run test:kit',
      'npm run bench -- --quick',
    ]);
    expect(ciCommands()).toEqual(readmeChecks());
  });

  it('has no build or test step of its own (the e2e tier builds what it needs); tools it installs are not checks', () => {
    const script = readFileSync(join(root, '.ci/run'), 'utf8');
    expect(script).not.toMatch(/npm run build|\btsc\b/);
    // Every npm command besides installing a tool (npm install --prefix …) is one of the `run` lines.
    const other = script.split('\n').filter((line) => /^\s*npm\s+(?!install --prefix)/.test(line));
    expect(other).toEqual([]);
  });

  it('every script the README names exists in package.json', () => {
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts as Record<string, string>;
    for (const command of readmeChecks()) {
      const name = /^npm (?:run )?([\w:-]+)/.exec(command)![1];
      if (name !== 'ci') expect(scripts).toHaveProperty(name === 'test' ? 'test' : name);
    }
  });
});
