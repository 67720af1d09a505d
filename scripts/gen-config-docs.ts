import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { configSchema } from '@wegent-codex/contracts';
import { ZH_DESCRIPTIONS } from './config-docs.zh';

/**
 * docs/{en,zh}/configuration.md, generated from the config schema (libs/contracts): names,
 * defaults, accepted values from the zod types, meanings from the `.describe()` texts (Chinese:
 * config-docs.zh.ts, English where a text is missing). test/ops/config-docs.spec.ts fails when a
 * committed file differs from what this renders.
 *
 *   npm run build && node dist/scripts/gen-config-docs.js
 */
export type DocLanguage = 'en' | 'zh';
export const CONFIG_DOC_PATHS: Record<DocLanguage, string> = { en: 'docs/en/configuration.md', zh: 'docs/zh/configuration.md' };
export const REGENERATE_COMMAND = 'npm run build && node dist/scripts/gen-config-docs.js';

type JsonSchema = {
  type?: string;
  default?: unknown;
  description?: string;
  enum?: string[];
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
};

const TEXT = {
  en: {
    title: '# Configuration',
    intro: [
      'Every setting is an environment variable, read once at start and validated with the zod schema in',
      '[`libs/contracts/src/config.schema.ts`](../../libs/contracts/src/config.schema.ts). A bad value stops the',
      'process with one line naming the variable (never its value). No variable is required: the defaults suit',
      'one developer machine. A Wegent deployment sets at least `REDIS_URL`, `CALLBACK_URL`, `WORKSPACE_ROOT`,',
      '`EXECUTOR_NAME` and `SECRETS_KEY` (see `k8s/config.yaml` and `docker/docker-compose.yml`). Every role of',
      'one deployment (api, worker, relay, the operator CLI) must see the same values; `SECRETS_KEY` above all.',
    ],
    header: '| variable | default | accepted values | meaning |',
    unset: 'unset',
    empty: 'empty',
    host: 'the host name',
    url: 'URL',
    text: 'text',
    integer: 'integer',
    number: 'number',
    boolean: '`true` / `false` (also `1` / `0`, `yes` / `no`)',
    matching: 'matching',
  },
  zh: {
    title: '# 配置',
    intro: [
      '所有设置都是环境变量，在启动时读取一次，并由',
      '[`libs/contracts/src/config.schema.ts`](../../libs/contracts/src/config.schema.ts) 中的 zod 模式校验。',
      '取值无效时进程会停止，并输出一行指明变量名（从不输出变量值）。没有必填变量：默认值适用于单台开发机。',
      'Wegent 部署至少需要设置 `REDIS_URL`、`CALLBACK_URL`、`WORKSPACE_ROOT`、`EXECUTOR_NAME` 和 `SECRETS_KEY`',
      '（参见 `k8s/config.yaml` 与 `docker/docker-compose.yml`）。同一部署的所有角色（api、worker、relay 以及运维 CLI）',
      '必须使用相同的取值，尤其是 `SECRETS_KEY`。',
    ],
    header: '| 变量 | 默认值 | 可接受的值 | 含义 |',
    unset: '未设置',
    empty: '空',
    host: '主机名',
    url: 'URL',
    text: '文本',
    integer: '整数',
    number: '数字',
    boolean: '`true` / `false`（也可用 `1` / `0`、`yes` / `no`）',
    matching: '匹配',
  },
} as const;

export function renderConfigDocs(lang: DocLanguage): string {
  const t = TEXT[lang];
  const input = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }).properties as Record<string, JsonSchema>;
  const output = z.toJSONSchema(configSchema, { io: 'output', unrepresentable: 'any' }).properties as Record<string, JsonSchema>;
  const rows = Object.keys(configSchema.shape).map((name) => {
    const schema = input[name] ?? {};
    const meaning = lang === 'zh' ? (ZH_DESCRIPTIONS[name] ?? schema.description ?? '') : (schema.description ?? '');
    return `| \`${name}\` | ${defaultOf(name, schema, lang)} | ${acceptedValues(schema, output[name] ?? {}, lang)} | ${escapeCell(meaning)} |`;
  });
  return [
    t.title,
    '',
    `<!-- Generated from libs/contracts/src/config.schema.ts by scripts/gen-config-docs.ts. Do not edit; run: ${REGENERATE_COMMAND} -->`,
    '',
    ...t.intro,
    '',
    t.header,
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

function defaultOf(name: string, schema: JsonSchema, lang: DocLanguage): string {
  const t = TEXT[lang];
  const value = schema.default;
  if (value === undefined) return t.unset;
  if (value === '') return t.empty;
  // The schema defaults EXECUTOR_NAME to the machine's name: never bake one machine's into the docs.
  if (value === hostname()) return t.host;
  const shown = `\`${String(value)}\``;
  return typeof value === 'number' && name.endsWith('_MS') ? `${shown} (${duration(value, lang)})` : shown;
}

function acceptedValues(input: JsonSchema, output: JsonSchema, lang: DocLanguage): string {
  const t = TEXT[lang];
  if (input.enum) {
    const values = input.enum.filter((v) => v !== '');
    if (['true', 'false', '1', '0'].every((v) => values.includes(v))) return t.boolean;
    return values.map((v) => `\`${v}\``).join(', ');
  }
  if (input.type === 'integer' || input.type === 'number') {
    const numeric = [input, output].filter((s) => s.type === 'integer' || s.type === 'number');
    const bound = (key: 'minimum' | 'maximum', pick: (...n: number[]) => number) => {
      const values = numeric.map((s) => s[key]).filter((v): v is number => typeof v === 'number' && Math.abs(v) < Number.MAX_SAFE_INTEGER);
      return values.length ? pick(...values) : undefined;
    };
    const min = bound('minimum', Math.max);
    const max = bound('maximum', Math.min);
    const kind = numeric.every((s) => s.type === 'integer') || input.type === 'integer' ? t.integer : t.number;
    if (min !== undefined && max !== undefined) return `${kind} ${min}–${max}`;
    if (min !== undefined) return `${kind} ≥ ${min}`;
    return kind;
  }
  if (input.format === 'uri') return t.url;
  if (input.pattern) return `${t.matching} \`${input.pattern}\``;
  return t.text;
}

function duration(ms: number, lang: DocLanguage): string {
  const [unit, size] =
    ms >= 3_600_000 && ms % 3_600_000 === 0
      ? ['h', 3_600_000]
      : ms >= 60_000 && ms % 60_000 === 0
        ? ['min', 60_000]
        : ms >= 1_000
          ? ['s', 1_000]
          : ['ms', 1];
  const zhUnits: Record<string, string> = { h: '小时', min: '分钟', s: '秒', ms: '毫秒' };
  const amount = Number((ms / size).toFixed(1));
  return lang === 'zh' ? `${amount} ${zhUnits[unit]}` : `${amount} ${unit}`;
}

/** Markdown table cells: no pipes, and `<token>` must not be read as an HTML tag. */
function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

if (require.main === module) {
  // dist/scripts/ when built, scripts/ when run from source.
  const root = resolve(__dirname, __dirname.endsWith(join('dist', 'scripts')) ? '../..' : '..');
  for (const lang of Object.keys(CONFIG_DOC_PATHS) as DocLanguage[]) {
    const path = join(root, CONFIG_DOC_PATHS[lang]);
    writeFileSync(path, renderConfigDocs(lang));
    process.stdout.write(`wrote ${CONFIG_DOC_PATHS[lang]}\n`);
  }
}
