import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { parseAllDocuments, parse } from 'yaml';
import { parseRoles } from '../../apps/service/src';
import { TASK_QUEUE_NAME } from '@wegent-codex/contracts';
import { redisOptionsFromUrl } from '@wegent-codex/runtime';
import { dropPrefix, testConfig } from '../support/test-config';
import { CONFIG_DEFAULTS, CONFIG_VARS, DEPLOYMENT_VARS, SECRET_VARS, workerStopSeconds } from './deployment-rules';
import { parseDockerfile } from './dockerfile';

/**
 * Static checks of every manifest under k8s/ (no cluster needed): structure, selectors, probes,
 * security, sizing, grace periods and autoscaling against the service's own config schema.
 */
type Doc = Record<string, any>;
const root = resolve(__dirname, '../..');
const k8sDir = join(root, 'k8s');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

const files = yamlFiles(k8sDir);
const docsByFile = new Map<string, Doc[]>();
for (const file of files) {
  const parsed = parseAllDocuments(readFileSync(file, 'utf8'));
  const list = Array.isArray(parsed) ? parsed : [parsed];
  docsByFile.set(
    relative(k8sDir, file),
    list
      .map((d) => {
        if (d.errors.length) throw new Error(`${relative(root, file)}: ${d.errors.map((e) => e.message).join('; ')}`);
        return d.toJS() as Doc;
      })
      .filter(Boolean),
  );
}
const manifests = [...docsByFile.entries()].filter(([file]) => !file.endsWith('kustomization.yaml')).flatMap(([, docs]) => docs);
const byKind = (kind: string) => manifests.filter((m) => m.kind === kind);
const one = (kind: string, name: string) => {
  const found = manifests.filter((m) => m.kind === kind && m.metadata.name === name);
  expect(found).toHaveLength(1);
  return found[0];
};

const configMap = one('ConfigMap', 'wegent-codex').data as Record<string, string>;
const secret = one('Secret', 'wegent-codex').stringData as Record<string, string>;
const deployments = byKind('Deployment');
const deployment = (role: string) => one('Deployment', `wegent-codex-${role}`);
const container = (d: Doc) => d.spec.template.spec.containers[0];
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const num = (name: string) => Number(configMap[name] ?? (CONFIG_DEFAULTS as Record<string, unknown>)[name]);

/** "1Gi", "192Mi", "512M" → MiB. */
function mebibytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G)?$/.exec(String(quantity));
  if (!match) throw new Error(`not a memory quantity: ${quantity}`);
  const factor =
    { Ki: 1 / 1024, Mi: 1, Gi: 1024, Ti: 1024 * 1024, K: 1e3 / 1048576, M: 1e6 / 1048576, G: 1e9 / 1048576 }[match[2] ?? ''] ?? 1 / 1048576;
  return Number(match[1]) * factor;
}
const isSubset = (subset: Record<string, string>, set: Record<string, string>) => Object.entries(subset).every(([k, v]) => set?.[k] === v);

describe('k8s manifests', () => {
  it('parse, and every object has apiVersion, kind and a name', () => {
    expect(files.length).toBeGreaterThanOrEqual(7);
    for (const m of manifests) {
      expect(typeof m.apiVersion).toBe('string');
      expect(typeof m.kind).toBe('string');
      expect(m.metadata?.name).toMatch(/^[a-z0-9-]+$/);
    }
    const keys = manifests.map((m) => `${m.kind}/${m.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('kustomization lists every base manifest (autoscaling and monitoring are opt-in)', () => {
    const kustomization = parse(readFileSync(join(k8sDir, 'kustomization.yaml'), 'utf8'));
    const base = [...docsByFile.keys()].filter((f) => f !== 'kustomization.yaml' && !/^(autoscaling|monitoring)\//.test(f)).sort();
    expect([...kustomization.resources].sort()).toEqual(base);
    expect(kustomization.images).toEqual([{ name: 'wegent-codex', newTag: pkg.version }]);
  });

  it('has the three roles, each selecting its own template labels, with the pinned image and the right roles', () => {
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['wegent-codex-api', 'wegent-codex-relay', 'wegent-codex-worker']);
    for (const role of ['api', 'worker', 'relay']) {
      const d = deployment(role);
      expect(isSubset(d.spec.selector.matchLabels, d.spec.template.metadata.labels)).toBe(true);
      expect(d.spec.template.metadata.labels['app.kubernetes.io/component']).toBe(role);
      const c = container(d);
      expect(c.image).toBe(`wegent-codex:${pkg.version}`);
      const roles = parseRoles(c.args);
      expect(roles[0]).toBe(role);
      expect(roles).toContain('api'); // probes and /metrics
      expect(c.envFrom).toEqual([{ configMapRef: { name: 'wegent-codex' } }, { secretRef: { name: 'wegent-codex' } }]);
    }
    // Other roles' selectors never match each other's pods.
    for (const a of deployments)
      for (const b of deployments) if (a !== b) expect(isSubset(a.spec.selector.matchLabels, b.spec.template.metadata.labels)).toBe(false);
  });

  it('probes /healthz (startup, liveness) and /readyz (readiness) on the container port PORT', () => {
    for (const d of deployments) {
      const c = container(d);
      expect(c.ports).toEqual([{ name: 'http', containerPort: Number(configMap.PORT) }]);
      expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
      for (const probe of [c.livenessProbe, c.readinessProbe]) expect(probe.timeoutSeconds).toBeGreaterThanOrEqual(2);
    }
    expect(configMap.HOST).toBe('0.0.0.0');
  });

  it('runs non-root (the image user), read-only, without privileges or a service-account token', () => {
    const dockerUser = parseDockerfile(readFileSync(join(root, 'docker/Dockerfile'), 'utf8')).instructions.find(
      (i) => i.keyword === 'USER',
    )!.args;
    for (const d of deployments) {
      const pod = d.spec.template.spec;
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(`${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}`).toBe(dockerUser);
      expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsGroup); // the workspace volume is writable
      const sandbox =
        d.metadata.name === 'wegent-codex-worker'
          ? { seccompProfile: { type: 'Unconfined' }, appArmorProfile: { type: 'Unconfined' }, procMount: 'Unmasked' }
          : {};
      expect(container(d).securityContext).toEqual({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
        ...sandbox,
      });
      // A read-only root needs writable /tmp and HOME.
      const mounts = container(d).volumeMounts.map((m: Doc) => m.mountPath);
      expect(mounts).toEqual(expect.arrayContaining(['/tmp', '/home/wegent']));
    }
  });

  it('gives the worker what unprivileged bubblewrap needs, and keeps the sandbox on', () => {
    const worker = deployments.find((d) => d.metadata.name === 'wegent-codex-worker')!;
    // procMount Unmasked is only honoured in a pod with its own user namespace.
    expect(worker.spec.template.spec.hostUsers).toBe(false);
    expect(container(worker).securityContext.procMount).toBe('Unmasked');
    expect(configMap.SANDBOX).toBe('bwrap');
    expect(new URL(configMap.REDIS_URL).password).toBe(''); // the password only in the Secret
    expect(secret.REDIS_PASSWORD).toBe('REPLACE-ME');
  });

  it('sets only known config variables, those a Wegent deployment needs, and secrets only in the Secret (as placeholders)', () => {
    for (const name of [...Object.keys(configMap), ...Object.keys(secret)]) expect(CONFIG_VARS).toContain(name);
    for (const name of DEPLOYMENT_VARS) expect({ name, set: name in configMap || name in secret }).toEqual({ name, set: true });
    for (const name of Object.keys(configMap)) expect(SECRET_VARS.has(name)).toBe(false);
    for (const [name, value] of Object.entries(secret)) expect({ name, value }).toEqual({ name, value: 'REPLACE-ME' });
    expect(Object.values(configMap).every((v) => typeof v === 'string')).toBe(true); // quoted numbers
    expect(configMap.EMBEDDED_REDIS).toBe('never');
  });

  it('mounts one ReadWriteMany workspace at WORKSPACE_ROOT in every pod', () => {
    const pvc = one('PersistentVolumeClaim', 'wegent-codex-workspace');
    expect(pvc.spec.accessModes).toEqual(['ReadWriteMany']);
    for (const d of deployments) {
      const volume = d.spec.template.spec.volumes.find((v: Doc) => v.persistentVolumeClaim?.claimName === pvc.metadata.name);
      expect(volume).toBeDefined();
      const mount = container(d).volumeMounts.find((m: Doc) => m.name === volume.name);
      expect(mount.mountPath).toBe(configMap.WORKSPACE_ROOT);
    }
  });

  it('routes the Service to the api pods only, on the named port', () => {
    const service = one('Service', 'wegent-codex');
    const api = deployment('api');
    expect(isSubset(service.spec.selector, api.spec.template.metadata.labels)).toBe(true);
    for (const role of ['worker', 'relay'])
      expect(isSubset(service.spec.selector, deployment(role).spec.template.metadata.labels)).toBe(false);
    expect(service.spec.ports).toEqual([{ name: 'http', port: Number(configMap.PORT), targetPort: 'http' }]);
  });

  it('has a PodDisruptionBudget per role that matches its pods and still lets a node drain', () => {
    for (const d of deployments) {
      const pdbs = byKind('PodDisruptionBudget').filter((p) => isSubset(p.spec.selector.matchLabels, d.spec.template.metadata.labels));
      expect(pdbs).toHaveLength(1);
      const { minAvailable, maxUnavailable } = pdbs[0].spec;
      if (minAvailable !== undefined) expect(minAvailable).toBeLessThan(d.spec.replicas);
      else expect(maxUnavailable).toBeGreaterThanOrEqual(1);
    }
  });

  it('gives every pod the time its shutdown needs (worker: SHUTDOWN_GRACE_MS + CANCEL_GRACE_MS + 15 s)', () => {
    const shutdown = num('SHUTDOWN_GRACE_MS');
    const cancel = num('CANCEL_GRACE_MS');
    expect(shutdown).toBe(CONFIG_DEFAULTS.SHUTDOWN_GRACE_MS);
    const worker = deployment('worker').spec.template.spec.terminationGracePeriodSeconds;
    expect(worker).toBeGreaterThanOrEqual(workerStopSeconds(shutdown, cancel));
    expect(worker).toBeLessThanOrEqual(workerStopSeconds(shutdown, cancel) + 60); // not a forgotten old value
    const api = deployment('api').spec.template.spec;
    const preStop = Number(api.containers[0].lifecycle.preStop.exec.command[1]);
    expect(api.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStop + 30);
    expect(deployment('relay').spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
    // Rolling updates never take a pod down before its replacement is up.
    for (const d of deployments) expect(d.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });

  it('sizes workers for WORKER_CONCURRENCY Codex jobs (~150 MiB each + 256 MiB baseline)', () => {
    const concurrency = num('WORKER_CONCURRENCY');
    for (const d of deployments) {
      const { requests, limits } = container(d).resources;
      expect(mebibytes(limits.memory)).toBeGreaterThanOrEqual(mebibytes(requests.memory));
      expect(requests.cpu).toBeDefined();
    }
    const worker = container(deployment('worker')).resources;
    expect(mebibytes(worker.requests.memory)).toBeGreaterThanOrEqual(256 + 150 * concurrency);
    expect(mebibytes(worker.limits.memory)).toBeGreaterThanOrEqual(2 * mebibytes(worker.requests.memory));
  });

  it('fits every run at its memory limit, plus the worker, within the worker pod (issue 13)', () => {
    const worker = container(deployment('worker')).resources;
    expect(num('RUN_MEMORY_MB') * num('WORKER_CONCURRENCY') + 512).toBeLessThanOrEqual(mebibytes(worker.limits.memory));
    expect(mebibytes(worker.limits.memory)).toBe(4096);
    expect(worker.requests.cpu).toBe('2');
  });

  it('scales workers with KEDA on the BullMQ wait and active lists, WORKER_CONCURRENCY jobs per pod', () => {
    const scaled = one('ScaledObject', 'wegent-codex-worker');
    expect(scaled.spec.scaleTargetRef.name).toBe(deployment('worker').metadata.name);
    const prefix = configMap.REDIS_PREFIX ?? CONFIG_DEFAULTS.REDIS_PREFIX;
    const redis = new URL(configMap.REDIS_URL);
    const triggers = scaled.spec.triggers as Doc[];
    expect(triggers.map((t) => [t.type, t.name, t.metadata.listName])).toEqual([
      ['redis', 'wait', `${prefix}:${TASK_QUEUE_NAME}:wait`],
      ['redis', 'active', `${prefix}:${TASK_QUEUE_NAME}:active`],
    ]);
    for (const t of triggers) expect(t.metadata.address).toBe(`${redis.hostname}:${redis.port || 6379}`);
    expect(scaled.spec.advanced.scalingModifiers).toMatchObject({ formula: 'wait + active', target: String(num('WORKER_CONCURRENCY')) });
    expect(scaled.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
  });

  it('offers a plain HPA alternative on the queue metric the service exports, for the same Deployment', () => {
    const hpa = one('HorizontalPodAutoscaler', 'wegent-codex-worker');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'wegent-codex-worker' });
    const metric = hpa.spec.metrics[0].external;
    expect(metric.target).toEqual({ type: 'AverageValue', averageValue: String(num('WORKER_CONCURRENCY')) });
    const exported = sourcesMention(join(root, 'libs'), `'${metric.metric.name}'`);
    expect(exported).toBe(true);
  });
});

describe('KEDA list names against a real BullMQ queue', () => {
  const config = testConfig('k8s-keda');
  afterAll(() => dropPrefix(config));

  it('a waiting job is in the <prefix>:codex-tasks:wait list the ScaledObject watches', async () => {
    const queue = new Queue(TASK_QUEUE_NAME, { connection: redisOptionsFromUrl(config.REDIS_URL), prefix: config.REDIS_PREFIX });
    const redis = new Redis(config.REDIS_URL);
    try {
      await queue.add('probe', { task_id: 1, subtask_id: 1, payloadRef: 'x' });
      const key = `${config.REDIS_PREFIX}:${TASK_QUEUE_NAME}:wait`;
      expect(await redis.type(key)).toBe('list');
      expect(await redis.llen(key)).toBe(1);
    } finally {
      await queue.close();
      redis.disconnect();
    }
  });
});

function sourcesMention(dir: string, text: string): boolean {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (sourcesMention(path, text)) return true;
    } else if (name.endsWith('.ts') && !name.endsWith('.spec.ts') && readFileSync(path, 'utf8').includes(text)) {
      return true;
    }
  }
  return false;
}
