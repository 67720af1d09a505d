import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ProcessMetricsService } from '@wegent-codex/metrics';
import { dropPrefix, testConfig } from '../../../test/support/test-config';
import { AppModule } from './app.module';
import type { Role } from './roles';

/** A role process without the HTTP API, as `main.js worker` / `main.js relay` builds it. */
async function startRoles(
  roles: Role[],
  workspace: string,
): Promise<{ app: INestApplicationContext; scrape: () => Promise<string>; close: () => Promise<void> }> {
  const config = testConfig(`service-${roles.join('-')}`, { METRICS_PORT: '0', WORKSPACE_ROOT: workspace });
  const app = await NestFactory.createApplicationContext(AppModule.forRoles(config, roles), { logger: false });
  await app.init();
  const port = app.get(ProcessMetricsService).port;
  return {
    app,
    scrape: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
    close: async () => {
      await app.close();
      await dropPrefix(config);
    },
  };
}

describe('composition root: metrics of a process without HTTP (METRICS_PORT)', () => {
  let workspace: string;
  beforeAll(async () => {
    workspace = await mkdtemp(join(tmpdir(), 'wegent-codex-service-'));
  });
  afterAll(async () => {
    await rm(workspace, { recursive: true, force: true });
  });

  it('a worker process reports the queue and its running Codex processes', async () => {
    const worker = await startRoles(['worker'], workspace);
    try {
      const text = await worker.scrape();
      expect(text).toMatch(/^wegent_codex_codex_processes_running 0$/m);
      expect(text).toMatch(/^wegent_codex_queue_jobs\{queue="codex-tasks",state="active"\} 0$/m);
      expect(text).not.toContain('wegent_codex_callback_delivery_seconds');
    } finally {
      await worker.close();
    }
  });

  it('a relay process reports the callback series, and no queue or Codex process series', async () => {
    const relay = await startRoles(['relay'], workspace);
    try {
      const text = await relay.scrape();
      expect(text).toContain('# TYPE wegent_codex_callback_delivery_seconds histogram');
      expect(text).toMatch(/^wegent_codex_callback_failures_total\{reason="expired"\} 0$/m);
      expect(text).not.toContain('wegent_codex_queue_jobs');
      expect(text).not.toContain('wegent_codex_codex_processes_running');
      expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    } finally {
      await relay.close();
    }
  });
});
