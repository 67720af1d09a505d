import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { freePort, ServiceProcess } from '../support/service-process';
import { dropPrefix, testConfig } from '../support/test-config';
import { requireTool, runTool } from './tools';

/**
 * The series the alerts and the dashboard use against what a running service really exports: one
 * process with every role (api, worker, relay), scraped over HTTP, linted by `promtool check
 * metrics`. Renaming a series in the code without the rules and the dashboard fails here.
 */
const root = resolve(__dirname, '../..');
type Panel = {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
};
const dashboard = JSON.parse(readFileSync(join(root, 'deploy/monitoring/grafana-dashboard.json'), 'utf8')) as {
  schemaVersion: number;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string }[] };
};
const rules = (
  parse(readFileSync(join(root, 'deploy/monitoring/wegent-codex.rules.yml'), 'utf8')) as { groups: { rules: { expr: string }[] }[] }
).groups.flatMap((g) => g.rules);
const panels = dashboard.panels.filter((p) => p.type !== 'row');

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/**
 * Metric names in a PromQL expression: identifiers that are not functions (followed by "("), not
 * keywords, not label names or values ({…}, by/on/without lists), not durations ([…]).
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = [...bare.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)]
    .filter((m) => !m[2] && !PROMQL_WORDS.has(m[1].toLowerCase()))
    .map((m) => m[1]);
  return [...new Set(names)];
}

/** Series names a scrape exposes: each family, and a histogram's _bucket, _sum and _count. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

describe('metric names in the extraction helper', () => {
  it('finds metric names and nothing else', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le, kind) (rate(wegent_codex_callback_delivery_seconds_bucket{kind!="x"}[$__rate_interval])))',
      ),
    ).toEqual(['wegent_codex_callback_delivery_seconds_bucket']);
    expect(
      metricNames('wegent_codex_a > wegent_codex_b or (up == 0 and on (job, instance) present_over_time(wegent_codex_c[1h]))').sort(),
    ).toEqual(['up', 'wegent_codex_a', 'wegent_codex_b', 'wegent_codex_c']);
  });
});

describe('dashboard and alerts against a running service', () => {
  const config = testConfig('monitoring-metrics');
  const workspace = mkdtempSync(join(tmpdir(), 'wegent-metrics-'));
  let service: ServiceProcess | undefined;
  let scrape = '';

  beforeAll(async () => {
    requireTool('promtool');
    const port = await freePort();
    service = await ServiceProcess.start('metrics', ['api', 'worker', 'relay'], {
      REDIS_URL: config.REDIS_URL,
      REDIS_PREFIX: config.REDIS_PREFIX,
      PORT: String(port),
      WORKSPACE_ROOT: workspace,
    });
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    scrape = await res.text();
  }, 60_000);

  afterAll(async () => {
    await service?.signal('SIGTERM', 15_000).catch(() => service?.kill());
    await dropPrefix(config);
    rmSync(workspace, { recursive: true, force: true });
  });

  it('promtool check metrics parses GET /metrics and finds nothing wrong with the service series', () => {
    expect(scrape).toContain('# TYPE wegent_codex_queue_jobs gauge');
    const result = runTool('promtool', ['check', 'metrics'], { input: scrape });
    // prom-client's default Node.js gauges keep their ecosystem-wide names, which promtool's naming
    // lint dislikes; those three remarks are all it may say (a parse error would be another line).
    expect(result.output.trim().split('\n').sort()).toEqual([
      'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
      'nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
      'nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
    ]);
  });

  it('every series the alerts use is exported (up is Prometheus own)', () => {
    const exported = exportedNames(scrape);
    const used = [...new Set(rules.flatMap((r) => metricNames(r.expr)))].sort();
    expect(used).toEqual([
      'up',
      'wegent_codex_callback_delivery_seconds_count',
      'wegent_codex_callback_failures_total',
      'wegent_codex_callback_retries_total',
      'wegent_codex_cancel_latency_seconds_bucket',
      'wegent_codex_codex_processes_running',
      'wegent_codex_queue_oldest_waiting_seconds',
      'wegent_codex_queue_workers',
      'wegent_codex_redis_up',
      'wegent_codex_relay_oldest_undelivered_seconds',
      'wegent_codex_run_longest_silence_seconds',
      'wegent_codex_worker_concurrency',
    ]);
    expect(used.filter((name) => name !== 'up' && !exported.has(name))).toEqual([]);
  });

  it('every series the dashboard queries is exported', () => {
    const exported = exportedNames(scrape);
    const used = [...new Set(panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr))))].sort();
    expect(used.length).toBeGreaterThanOrEqual(15);
    expect(used.filter((name) => !exported.has(name))).toEqual([]);
  });
});

describe('Grafana dashboard', () => {
  it('is importable: recent schema, a Prometheus data source variable used by every panel and query', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toBe('wegent-codex');
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    for (const panel of panels) {
      expect({ panel: panel.title, uid: panel.datasource?.uid }).toEqual({ panel: panel.title, uid: '${datasource}' });
      for (const target of panel.targets ?? []) expect(target.datasource?.uid).toBe('${datasource}');
      expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
    }
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('has the panels operators look at, each with queries', () => {
    expect(panels.map((p) => p.title)).toEqual([
      'Jobs by state',
      'Oldest waiting job',
      'Workers registered',
      'Throughput',
      'Time to first event',
      'Run duration (p95)',
      'Codex processes',
      'Longest silent run',
      'Cancel latency',
      'Callback latency (p95)',
      'Callbacks: delivered, retried, given up',
      'Relay lag',
      'Redis reachable',
      'Events appended',
      'Scrape collection errors',
    ]);
    for (const panel of panels)
      expect({ panel: panel.title, queries: (panel.targets ?? []).length > 0 }).toEqual({ panel: panel.title, queries: true });
  });
});
