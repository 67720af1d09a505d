import { Queue } from 'bullmq';
import { redisOptionsFromUrl } from '@wegent-codex/runtime';
import { dropPrefix, testConfig } from '../../../test/support/test-config';
import { bullmqTelemetry } from './bullmq-telemetry';

describe('bullmqTelemetry', () => {
  it('is off unless OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
    expect(bullmqTelemetry(testConfig('otel-off'))).toBeUndefined();
  });

  it('plugs into a BullMQ queue (no SDK registered: the no-op tracer) and jobs still go through', async () => {
    const config = testConfig('otel', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' });
    const telemetry = bullmqTelemetry(config);
    expect(telemetry).toBeDefined();
    const queue = new Queue('otel-check', { connection: redisOptionsFromUrl(config.REDIS_URL), prefix: config.REDIS_PREFIX, telemetry });
    try {
      const job = await queue.add('one', { task_id: 1 });
      expect((await queue.getJob(job.id!))?.data).toEqual({ task_id: 1 });
    } finally {
      await queue.close();
      await dropPrefix(config);
    }
  });
});
