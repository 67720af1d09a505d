import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { PROMETHEUS_RULE_PATH, REGENERATE_RULE_COMMAND, renderPrometheusRule, RULES_PATH } from '../../scripts/gen-prometheus-rule';
import { requireTool, runTool } from './tools';

/**
 * The alert rules, run for real by promtool: `check rules`, and `test rules` over series that make
 * every alert fire and series that must not. Each alert is then broken both ways (never firing,
 * always firing) to show the tests notice. The PrometheusRule object must carry the same groups.
 */
type Rule = { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> };
type Group = { name: string; rules: Rule[] };

const root = resolve(__dirname, '../..');
const rulesFile = join(root, RULES_PATH);
const testFile = join(root, 'deploy/monitoring/wegent-codex.rules.test.yml');
const rulesText = readFileSync(rulesFile, 'utf8');
const groups = (parse(rulesText) as { groups: Group[] }).groups;
const rules = groups.flatMap((g) => g.rules);

/** The alerts the service ships, written out: adding or dropping one is a decision, not a side effect. */
const ALERTS = [
  'WegentCodexCallbacksFailing',
  'WegentCodexCallbacksRetrying',
  'WegentCodexRelayLag',
  'WegentCodexJobsWaitingTooLong',
  'WegentCodexNoWorkerReady',
  'WegentCodexProcessesAboveConcurrency',
  'WegentCodexCancelSlow',
  'WegentCodexRunSilent',
  'WegentCodexRedisDown',
];

/** promtool test rules on `rules` (as YAML text) with the committed test file, in a scratch folder. */
function promtoolTest(rulesYaml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'wegent-rules-'));
  try {
    writeFileSync(join(dir, 'wegent-codex.rules.yml'), rulesYaml);
    copyFileSync(testFile, join(dir, 'rules.test.yml'));
    return runTool('promtool', ['test', 'rules', 'rules.test.yml'], { cwd: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The rules with one alert's expression replaced. */
function withExpr(alert: string, expr: string): string {
  const copy = structuredClone(groups);
  for (const rule of copy.flatMap((g) => g.rules)) if (rule.alert === alert) rule.expr = expr;
  return stringify({ groups: copy });
}

/** The section headings (## to ####) of a markdown file, as GitHub anchors. */
function anchors(markdown: string): Set<string> {
  return new Set(
    [...markdown.matchAll(/^#{2,4} +(.+)$/gm)].map((m) =>
      m[1]
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s-]/gu, '')
        .replace(/\s/g, '-'),
    ),
  );
}

describe('alert rules (promtool)', () => {
  beforeAll(() => requireTool('promtool'));

  it('ships exactly the documented alerts', () => {
    expect(rules.map((r) => r.alert)).toEqual(ALERTS);
  });

  it('promtool check rules: valid', () => {
    const result = runTool('promtool', ['check', 'rules', rulesFile]);
    expect(result.output).toContain(`SUCCESS: ${ALERTS.length} rules found`);
    expect(result.status).toBe(0);
  });

  it('promtool test rules: every alert fires on its series and stays quiet on the others', () => {
    const result = runTool('promtool', ['test', 'rules', testFile]);
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('the test file has, for every alert, a case where it fires and one where it does not', () => {
    const tests = (
      parse(readFileSync(testFile, 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] }
    ).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test);
    for (const alert of ALERTS) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect({ alert, fires: mine.some((c) => c.exp_alerts.length > 0) }).toEqual({ alert, fires: true });
      expect({ alert, quiet: mine.some((c) => c.exp_alerts.length === 0) }).toEqual({ alert, quiet: true });
    }
  });

  it.each(ALERTS)('the tests notice when %s never fires or always fires', (alert) => {
    const never = promtoolTest(withExpr(alert, 'vector(1) < 0'));
    expect(never.status).not.toBe(0);
    expect(never.output).toContain(`alertname: ${alert}`);
    const always = promtoolTest(withExpr(alert, 'vector(1)'));
    expect(always.status).not.toBe(0);
    expect(always.output).toContain(`alertname: ${alert}`);
  });

  it('every alert has a severity, a summary, and a runbook_url into a section of the en and zh runbooks', () => {
    const en = anchors(readFileSync(join(root, 'docs/en/runbook.md'), 'utf8'));
    const zh = anchors(readFileSync(join(root, 'docs/zh/runbook.md'), 'utf8'));
    for (const rule of rules) {
      expect(['warning', 'critical']).toContain(rule.labels.severity);
      expect(rule.annotations.summary).toBeTruthy();
      expect(rule.annotations.runbook_url).toBe(`docs/en/runbook.md#${rule.alert.toLowerCase()}`);
      expect({ alert: rule.alert, en: en.has(rule.alert.toLowerCase()) }).toEqual({ alert: rule.alert, en: true });
      expect({ alert: rule.alert, zh: zh.has(rule.alert.toLowerCase()) }).toEqual({ alert: rule.alert, zh: true });
    }
  });

  it(`the PrometheusRule carries the same groups (regenerate: ${REGENERATE_RULE_COMMAND})`, () => {
    const committed = readFileSync(join(root, PROMETHEUS_RULE_PATH), 'utf8');
    expect(committed).toBe(renderPrometheusRule(rulesText));
    const object = parse(committed) as { apiVersion: string; kind: string; spec: { groups: Group[] } };
    expect(object.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(object.kind).toBe('PrometheusRule');
    expect(object.spec.groups).toEqual(groups);
  });
});
