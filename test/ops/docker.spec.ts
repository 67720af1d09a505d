import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { parseRoles } from '../../apps/service/src';
import { copySources, execForm, parseDockerfile, type Stage } from './dockerfile';
import { CONFIG_DEFAULTS, CONFIG_VARS, SECRET_VARS, seconds, workerStopSeconds } from './deployment-rules';

/**
 * Static checks of docker/: the image (multi-stage, non-root, tini, healthcheck, lockfile
 * installs, no secrets), the compose file and the multi-platform build script. There is no
 * Docker engine in CI; these catch what a review would.
 */
const root = resolve(__dirname, '../..');
const dockerfileText = readFileSync(join(root, 'docker/Dockerfile'), 'utf8');
const dockerfile = parseDockerfile(dockerfileText);
const runtime = dockerfile.stages[dockerfile.stages.length - 1];
const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const SECRET_NAME = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)/i;

describe('docker/Dockerfile', () => {
  it('declares the BuildKit syntax on its first line (a directive anywhere else is a comment)', () => {
    expect(dockerfileText.split('\n')[0]).toMatch(/^# syntax=docker\/dockerfile:1(\.\d+)?$/);
    expect(dockerfile.directives.syntax).toBeDefined();
  });

  it('is multi-stage on a pinned Node major (node:20 slim), never latest', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(3);
    const names = new Set(dockerfile.stages.map((s) => s.name));
    for (const stage of dockerfile.stages) {
      if (names.has(stage.base)) continue;
      expect(stage.base).toMatch(/^node:20(\.\d+){0,2}-(bookworm|bullseye)-slim(@sha256:[0-9a-f]{64})?$/);
    }
    expect(runtime.name).toBe('runtime');
  });

  it('compiles on the build platform and installs production dependencies on the target platform', () => {
    const build = dockerfile.stages.find((s) => s.name === 'build')!;
    expect(build.platform).toBe('$BUILDPLATFORM');
    const prod = dockerfile.stages.find((s) => s.name === 'prod-deps')!;
    expect(prod.platform).toBeUndefined(); // the native Codex binary must match the target
    const copiedFrom = all(runtime, 'COPY').map((c) => copySources(c.args));
    expect(copiedFrom).toContainEqual({ from: 'prod-deps', sources: ['/app/node_modules'] });
    expect(copiedFrom).toContainEqual({ from: 'build', sources: ['/app/dist'] });
  });

  it('installs with npm ci from the lockfile only (never npm install), dev dependencies left out of the image', () => {
    const runs = dockerfile.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /\bnpm (install|i)\b/.test(r))).toBe(false);
    for (const stage of dockerfile.stages.filter((s) => all(s, 'RUN').some((r) => /\bnpm ci\b/.test(r.args)))) {
      const lockCopied = stage.instructions.findIndex(
        (i) => i.keyword === 'COPY' && copySources(i.args).sources.includes('package-lock.json'),
      );
      const ci = stage.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
      expect(lockCopied).toBeGreaterThanOrEqual(0);
      expect(lockCopied).toBeLessThan(ci);
    }
    const prodInstall = all(
      dockerfile.stages.find((s) => s.name === 'prod-deps')!,
      'RUN',
    )
      .map((r) => r.args)
      .join(' ');
    expect(prodInstall).toMatch(/npm ci --omit=dev/);
    expect(prodInstall).toMatch(/codex\.js --version/); // the platform's Codex binary is really there
  });

  it('pins the Codex CLI to an exact version in package.json and the lockfile', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const version: string = pkg.dependencies['@openai/codex'];
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
    expect(lock.packages['node_modules/@openai/codex'].version).toBe(version);
    for (const arch of ['x64', 'arm64']) {
      expect(lock.packages[`node_modules/@openai/codex-linux-${arch}`]?.version).toBe(`${version}-linux-${arch}`);
    }
  });

  it('runs as a numeric non-root user', () => {
    const users = all(runtime, 'USER');
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0].args.split(':');
    expect(Number(uid)).toBeGreaterThan(0);
    expect(Number(gid ?? uid)).toBeGreaterThan(0);
    // Nothing after USER runs as root again.
    const after = runtime.instructions.slice(runtime.instructions.indexOf(users[0]) + 1);
    expect(after.map((i) => i.keyword)).not.toContain('USER');
  });

  it('has tini as PID 1 in front of the service, without process-group signalling, and no default role', () => {
    const entrypoint = execForm(all(runtime, 'ENTRYPOINT')[0].args)!;
    expect(entrypoint.slice(0, 2)).toEqual(['/usr/bin/tini', '--']);
    expect(entrypoint).not.toContain('-g');
    expect(entrypoint.slice(2)).toEqual(['node', 'dist/apps/service/src/main.js']);
    expect(existsSync(join(root, 'apps/service/src/main.ts'))).toBe(true);
    expect(execForm(all(runtime, 'CMD')[0].args)).toEqual([]);
    expect(parseRoles([])).toEqual(['api', 'worker', 'relay']);
    const apt = all(runtime, 'RUN')
      .map((r) => r.args)
      .find((r) => r.includes('apt-get install'))!;
    for (const pkg of ['git', 'tini', 'ca-certificates', 'bubblewrap']) expect(apt.split(/\s+/)).toContain(pkg);
    expect(apt).toMatch(/--no-install-recommends/);
    expect(apt).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
  });

  it('has a HEALTHCHECK on /healthz (exec form, bounded)', () => {
    const [health] = all(runtime, 'HEALTHCHECK');
    expect(health).toBeDefined();
    expect(health.args).toMatch(/--timeout=\d+s/);
    expect(health.args).toMatch(/--start-period=\d+s/);
    const cmd = execForm(health.args.slice(health.args.indexOf('CMD')))!;
    expect(cmd[0]).toBe('node');
    expect(cmd.join(' ')).toContain('/healthz');
  });

  it('bakes no secret into the image: no secret-named ENV or ARG, only known config variables', () => {
    for (const instruction of dockerfile.instructions.filter((i) => i.keyword === 'ENV' || i.keyword === 'ARG')) {
      const names = [...instruction.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]);
      if (instruction.keyword === 'ARG' && names.length === 0) names.push(instruction.args.trim());
      for (const name of names) expect(name).not.toMatch(SECRET_NAME);
      if (instruction.keyword === 'ENV') for (const name of names) if (name !== 'NODE_ENV') expect(CONFIG_VARS).toContain(name);
    }
    expect(dockerfileText).not.toMatch(/sk-[A-Za-z0-9]{8,}|ghp_[A-Za-z0-9]{8,}|BEGIN [A-Z ]*PRIVATE KEY/);
  });

  it('copies only paths that exist, and the ignore file keeps node_modules, .env and .git out of the context', () => {
    for (const stage of dockerfile.stages) {
      for (const copy of all(stage, 'COPY')
        .map((c) => copySources(c.args))
        .filter((c) => !c.from)) {
        for (const source of copy.sources) expect({ source, exists: existsSync(join(root, source)) }).toEqual({ source, exists: true });
      }
    }
    const ignore = readFileSync(join(root, 'docker/Dockerfile.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of ['**/node_modules', 'dist', '.git', '.env', '.data']) expect(ignore).toContain(entry);
    expect(ignore).toContain('!test/fixtures'); // the build compiles them (the demo's fake model)
  });

  it('links the operator CLI from the path package.json publishes', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const bin: string = pkg.bin['wegent-codex'];
    expect(dockerfileText).toContain(`ln -s /app/${bin} /usr/local/bin/wegent-codex`);
    expect(existsSync(join(root, bin.replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);
  });
});

describe('docker/docker-compose.yml', () => {
  const compose = parse(readFileSync(join(root, 'docker/docker-compose.yml'), 'utf8'), { merge: true }) as Record<string, any>;
  const roles = ['api', 'worker', 'relay'] as const;

  it('has Redis with the append-only file, noeviction and a healthcheck', () => {
    const redis = compose.services.redis;
    expect(redis.command.join(' ')).toMatch(/--appendonly yes/);
    expect(redis.command.join(' ')).toMatch(/--maxmemory-policy noeviction/);
    expect(redis.healthcheck.test).toEqual(['CMD', 'redis-cli', 'ping']);
    // A password: task commands can open a socket to Redis (the healthcheck's redis-cli reads REDISCLI_AUTH).
    expect(redis.command.slice(-2)).toEqual(['--requirepass', '${REDIS_PASSWORD:?set REDIS_PASSWORD}']);
    expect(redis.environment).toEqual({ REDISCLI_AUTH: '${REDIS_PASSWORD:?set REDIS_PASSWORD}' });
    expect(redis.volumes).toEqual(['redis-data:/data']);
  });

  it('runs each role from the one image, with probes (the api role) and after Redis is healthy', () => {
    for (const role of roles) {
      const service = compose.services[role];
      expect(service.build).toEqual({ context: '..', dockerfile: 'docker/Dockerfile' });
      expect(service.command[0]).toBe(role);
      expect(parseRoles(service.command)).toContain('api');
      expect(service.healthcheck.test.join(' ')).toContain('/readyz');
      expect(service.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
    }
    expect(compose.services.api.ports).toEqual(['${PORT:-10001}:10001']);
    expect(compose.services.worker.ports).toBeUndefined();
  });

  it('shares one workspace volume at the same path as WORKSPACE_ROOT in every role', () => {
    expect(Object.keys(compose.volumes).sort()).toEqual(['redis-data', 'workspace']);
    for (const role of roles) {
      expect(compose.services[role].volumes).toEqual(['workspace:/workspace']);
      expect(compose.services[role].environment.WORKSPACE_ROOT).toBe('/workspace');
    }
  });

  it('sets only known config variables, the ones Wegent needs, and secrets only from the environment', () => {
    const env = compose.services.api.environment as Record<string, string>;
    for (const name of Object.keys(env)) expect(CONFIG_VARS).toContain(name);
    expect(env.REDIS_URL).toBe('redis://redis:6379');
    expect(env.REDIS_PASSWORD).toMatch(/^\$\{REDIS_PASSWORD:\?/); // compose refuses to start without it
    for (const name of ['CALLBACK_URL', 'EXECUTOR_NAME', 'SECRETS_KEY']) expect(env[name]).toMatch(new RegExp(`^\\$\\{${name}[:?-]`));
    for (const [name, value] of Object.entries(env)) {
      if (SECRET_VARS.has(name))
        expect({ name, value }).toEqual({ name, value: expect.stringMatching(new RegExp(`^\\$\\{${name}(:-|:\\?)`)) });
    }
    expect(env.SECRETS_KEY).toMatch(/^\$\{SECRETS_KEY:\?/); // compose refuses to start without it
  });

  it('lets only the worker create the per-run sandbox (namespaces, mount, a fresh /proc), adding no capability', () => {
    expect(compose.services.worker.security_opt).toEqual(['seccomp=unconfined', 'apparmor=unconfined', 'systempaths=unconfined']);
    for (const role of ['api', 'relay']) expect(compose.services[role].security_opt).toBeUndefined();
    for (const role of roles) expect(compose.services[role].cap_add).toBeUndefined();
    for (const role of roles) expect(compose.services[role].environment.SANDBOX).toBeUndefined(); // default: bwrap
  });

  it('gives a stopping worker the time its shutdown needs', () => {
    const env = compose.services.worker.environment as Record<string, string>;
    const defaultOf = (value: string) => Number(/:-(\d+)\}/.exec(value)![1]);
    const shutdown = defaultOf(env.SHUTDOWN_GRACE_MS);
    const cancel = defaultOf(env.CANCEL_GRACE_MS);
    expect(shutdown).toBe(CONFIG_DEFAULTS.SHUTDOWN_GRACE_MS);
    expect(seconds(compose.services.worker.stop_grace_period)).toBeGreaterThanOrEqual(workerStopSeconds(shutdown, cancel));
  });
});

describe('docker/build.sh', () => {
  const script = join(root, 'docker/build.sh');
  const dryRun = (...args: string[]) => execFileSync('bash', [script, '--dry-run', ...args], { encoding: 'utf8' });

  it('is valid bash', () => {
    expect(() => execFileSync('bash', ['-n', script])).not.toThrow();
  });

  it('builds linux/amd64 and linux/arm64 with buildx, tags version/latest/sha and pushes only when asked', () => {
    const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
    const push = dryRun('--push', '--image', 'registry.example.com/wegent-codex', '--tag', 'stable');
    expect(push).toMatch(/^docker buildx build /);
    expect(push).toMatch(/--platform linux\/amd64\\?,linux\/arm64/);
    expect(push).toContain(`--tag registry.example.com/wegent-codex:${version}`);
    expect(push).toContain('--tag registry.example.com/wegent-codex:latest');
    expect(push).toContain('--tag registry.example.com/wegent-codex:stable');
    expect(push).toMatch(/ --push /);
    const local = dryRun();
    expect(local).not.toMatch(/--push|--load/);
    expect(dryRun('--load')).toMatch(/--platform linux\/(amd64|arm64) .*--load/);
  });
});
