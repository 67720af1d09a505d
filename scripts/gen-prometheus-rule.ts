import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';

/**
 * k8s/monitoring/prometheus-rule.yaml (a Prometheus Operator PrometheusRule), generated from the
 * plain rules file deploy/monitoring/wegent-codex.rules.yml, which promtool tests. The operator's
 * object carries the same groups; test/ops/monitoring-rules.spec.ts fails when the committed file
 * differs from what this renders.
 *
 *   npm run monitoring:rule
 */
export const RULES_PATH = 'deploy/monitoring/wegent-codex.rules.yml';
export const PROMETHEUS_RULE_PATH = 'k8s/monitoring/prometheus-rule.yaml';
export const REGENERATE_RULE_COMMAND = 'npm run monitoring:rule';

export function renderPrometheusRule(rulesYaml: string): string {
  const { groups } = parse(rulesYaml) as { groups: unknown[] };
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'wegent-codex',
      labels: { 'app.kubernetes.io/name': 'wegent-codex', 'app.kubernetes.io/component': 'monitoring' },
    },
    spec: { groups },
  };
  return [
    `# Generated from ${RULES_PATH} by \`${REGENERATE_RULE_COMMAND}\`: edit that file, not this one.`,
    '# Needs the Prometheus Operator (monitoring.coreos.com/v1). Its Prometheus picks rules by',
    '# ruleSelector: add the label yours expects (kube-prometheus-stack: release: <helm release>) in',
    '# k8s/monitoring/kustomization.yaml.',
    stringify(rule, { lineWidth: 0 }),
  ].join('\n');
}

if (require.main === module) {
  const root = resolve(__dirname, '../..');
  writeFileSync(join(root, PROMETHEUS_RULE_PATH), renderPrometheusRule(readFileSync(join(root, RULES_PATH), 'utf8')));
  process.stdout.write(`wrote ${PROMETHEUS_RULE_PATH}\n`);
}
