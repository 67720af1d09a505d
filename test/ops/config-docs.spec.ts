import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { configSchema } from '@wegent-codex/contracts';
import { ZH_DESCRIPTIONS } from '../../scripts/config-docs.zh';
import { CONFIG_DOC_PATHS, REGENERATE_COMMAND, renderConfigDocs, type DocLanguage } from '../../scripts/gen-config-docs';

/**
 * docs/{en,zh}/configuration.md are generated from the config schema; this fails when a committed
 * file is not what the schema renders today (a variable added, a default or a text changed).
 */
const root = resolve(__dirname, '../..');

describe('configuration docs', () => {
  it.each(Object.entries(CONFIG_DOC_PATHS) as [DocLanguage, string][])('%s: %s matches the config schema', (lang, path) => {
    const expected = renderConfigDocs(lang);
    const actual = existsSync(join(root, path)) ? readFileSync(join(root, path), 'utf8') : '';
    if (actual !== expected) {
      const a = actual.split('\n');
      const e = expected.split('\n');
      const line = e.findIndex((l, i) => l !== a[i]);
      throw new Error(
        `${path} is out of date with libs/contracts/src/config.schema.ts. Regenerate it: ${REGENERATE_COMMAND}\n` +
          `first difference at line ${line + 1}:\n  committed: ${a[line] ?? '(missing)'}\n  generated: ${e[line]}`,
      );
    }
  });

  it('documents every variable once, in schema order', () => {
    const names = [...renderConfigDocs('en').matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(names).toEqual(Object.keys(configSchema.shape));
  });

  it("never bakes in this machine's host name, and has no Chinese text for unknown variables", () => {
    expect(renderConfigDocs('en')).toContain('| `EXECUTOR_NAME` | the host name |');
    for (const name of Object.keys(ZH_DESCRIPTIONS)) expect(Object.keys(configSchema.shape)).toContain(name);
  });
});
