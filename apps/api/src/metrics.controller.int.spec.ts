import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { MetricsModule } from '@wegent-codex/metrics';
import { RuntimeModule } from '@wegent-codex/runtime';
import { examplePayload, postJson, startApi } from '../../../test/support/api-harness';
import { dropPrefix, testConfig } from '../../../test/support/test-config';
import { ApiModule } from './api.module';
import { configureHttpApp } from './http-app';

describe('GET /metrics', () => {
  const config = testConfig('api-metrics', { API_TOKEN: 'api-token-789' });
  let app: NestExpressApplication;
  let baseUrl: string;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [RuntimeModule.forRoot(config), MetricsModule.forRoot(), ApiModule],
    }).compile();
    app = moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false, logger: false });
    configureHttpApp(app, config);
    await app.listen(0, '127.0.0.1');
    baseUrl = await app.getUrl();
  });
  afterAll(async () => {
    await app?.close();
    await dropPrefix(config);
  });

  it('answers Prometheus text without the API token, with no id or secret in it', async () => {
    const auth = { authorization: 'Bearer api-token-789' };
    expect((await postJson(`${baseUrl}/v1/tasks`, examplePayload(611, 1), auth)).status).toBe(202);
    expect((await postJson(`${baseUrl}/v1/tasks/611/cancel`, {}, auth)).status).toBe(200);

    const res = await fetch(`${baseUrl}/metrics`);
    expect(res.status).toBe(200);
    // Express puts charset first; Prometheus reads the parameters in any order.
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8; version=0.0.4');
    const text = await res.text();
    expect(text).toContain('# HELP wegent_codex_queue_jobs ');
    expect(text).toMatch(/^wegent_codex_events_appended_total\{type="cancelled"\} 1$/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d+/m);
    // Ids would only show as label values (a sample value may contain the digits by chance).
    expect(text).not.toMatch(/="[^"]*611[^"]*"|api-token-789|sk-proj/);
  });
});

describe('GET /metrics without MetricsModule', () => {
  it('answers 404 JSON saying why', async () => {
    const api = await startApi();
    try {
      const res = await fetch(`${api.baseUrl}/metrics`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: 'metrics are not collected in this process (the composition root has no MetricsModule)' });
    } finally {
      await api.close();
    }
  });
});
