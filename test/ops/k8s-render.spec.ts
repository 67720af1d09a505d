import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { kustomize } from './tools';

/**
 * The manifests as operators apply them: rendered by kustomize (`kubectl kustomize`, or $KUSTOMIZE),
 * then checked object by object. Security checks assert what every pod must have (non-root, no
 * privilege escalation) and nothing about seccomp or AppArmor specifics, which the sandbox needs
 * to choose.
 */
type Doc = Record<string, any>;
const root = resolve(__dirname, '../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

function render(dir: string): Doc[] {
  return parseAllDocuments(kustomize(dir)).map((d) => {
    if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join('; '));
    return d.toJS() as Doc;
  });
}

const base = render(join(root, 'k8s'));
const of = (docs: Doc[], kind: string) => docs.filter((d) => d.kind === kind);
const deployments = of(base, 'Deployment');
const configMap = of(base, 'ConfigMap').find((c) => c.metadata.name === 'wegent-codex')!.data as Record<string, string>;
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

describe('k8s/ rendered by kustomize', () => {
  it('renders the objects of the base, each labelled part-of wegent', () => {
    expect(base.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      'ConfigMap/wegent-codex',
      'Deployment/wegent-codex-api',
      'Deployment/wegent-codex-relay',
      'Deployment/wegent-codex-worker',
      'PersistentVolumeClaim/wegent-codex-workspace',
      'PodDisruptionBudget/wegent-codex-api',
      'PodDisruptionBudget/wegent-codex-relay',
      'PodDisruptionBudget/wegent-codex-worker',
      'Secret/wegent-codex',
      'Service/wegent-codex',
    ]);
    for (const doc of base)
      expect({ object: doc.metadata.name, partOf: doc.metadata.labels?.['app.kubernetes.io/part-of'] }).toEqual({
        object: doc.metadata.name,
        partOf: 'wegent',
      });
  });

  it.each(['api', 'worker', 'relay'])('%s: pinned image, probes, resources, non-root without privilege escalation', (role) => {
    const d = deployments.find((x) => x.metadata.name === `wegent-codex-${role}`)!;
    const pod = d.spec.template.spec;
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0];
    expect(c.image).toBe(`wegent-codex:${pkg.version}`);
    expect(c.ports).toContainEqual(expect.objectContaining({ name: 'http' }));
    expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.resources.requests.cpu).toBeTruthy();
    expect(c.resources.requests.memory).toBeTruthy();
    expect(c.resources.limits.memory).toBeTruthy();
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext.privileged ?? false).toBe(false);
  });

  it('has a PodDisruptionBudget per Deployment, selecting exactly its pods and leaving room to drain', () => {
    const pdbs = of(base, 'PodDisruptionBudget');
    for (const d of deployments) {
      const labels = d.spec.template.metadata.labels;
      const mine = pdbs.filter((p) => matches(p.spec.selector.matchLabels, labels));
      expect({ deployment: d.metadata.name, pdbs: mine.length }).toEqual({ deployment: d.metadata.name, pdbs: 1 });
      const budget = mine[0].spec;
      if (budget.minAvailable !== undefined) expect(budget.minAvailable).toBeLessThan(d.spec.replicas);
      else expect(Number.parseInt(String(budget.maxUnavailable), 10)).toBeGreaterThan(0);
    }
  });

  it('KEDA (opt-in) scales the rendered worker Deployment on the BullMQ wait list of the configured prefix', () => {
    // kustomize only loads files under a kustomization's own folder: a scratch overlay of the base
    // and a copy of the ScaledObject renders them together, as an operator's overlay would.
    const dir = mkdtempSync(join(tmpdir(), 'wegent-keda-'));
    try {
      copyFileSync(join(root, 'k8s/autoscaling/keda-scaledobject.yaml'), join(dir, 'keda-scaledobject.yaml'));
      writeFileSync(join(dir, 'kustomization.yaml'), `resources:\n  - ${relative(dir, join(root, 'k8s'))}\n  - keda-scaledobject.yaml\n`);
      const rendered = render(dir);
      const [scaled] = of(rendered, 'ScaledObject');
      expect(of(rendered, 'Deployment').map((d) => d.metadata.name)).toContain(scaled.spec.scaleTargetRef.name);
      expect(scaled.spec.scaleTargetRef.name).toBe('wegent-codex-worker');
      const wait = scaled.spec.triggers.find((t: Doc) => t.type === 'redis' && t.metadata.listName.endsWith(':wait'));
      expect(wait.metadata.listName).toBe(`${configMap.REDIS_PREFIX}:codex-tasks:wait`);
      expect(scaled.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('k8s/monitoring rendered by kustomize', () => {
  const monitoring = render(join(root, 'k8s/monitoring'));

  it('holds the PrometheusRule with the rules file groups and a PodMonitor for every role', () => {
    expect(monitoring.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      'PodMonitor/wegent-codex',
      'PrometheusRule/wegent-codex',
    ]);
    const rule = of(monitoring, 'PrometheusRule')[0];
    expect(rule.spec.groups).toEqual(parse(readFileSync(join(root, 'deploy/monitoring/wegent-codex.rules.yml'), 'utf8')).groups);
    const monitor = of(monitoring, 'PodMonitor')[0];
    for (const d of deployments) {
      expect(matches(monitor.spec.selector.matchLabels, d.spec.template.metadata.labels)).toBe(true);
      const ports = d.spec.template.spec.containers[0].ports.map((p: Doc) => p.name);
      for (const endpoint of monitor.spec.podMetricsEndpoints) expect(ports).toContain(endpoint.port);
    }
    expect(monitor.spec.podMetricsEndpoints).toEqual([{ port: 'http', path: '/metrics', interval: '15s' }]);
  });
});
