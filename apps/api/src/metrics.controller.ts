import { Controller, Get, Inject, Optional, Res } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { METRICS_REGISTRY } from '@wegent-codex/metrics';
import { ApiError } from './http/api-error';
import type { HttpResponse } from './http/http-types';

/**
 * Prometheus text of this process's registry. Open like the probes (API_TOKEN guards /api and /v1
 * only): it carries counts and durations, never an id, a payload or a secret.
 */
@Controller()
export class MetricsController {
  constructor(@Optional() @Inject(METRICS_REGISTRY) private readonly registry?: Registry) {}

  @Get('metrics')
  async metrics(@Res({ passthrough: true }) res: HttpResponse): Promise<string> {
    if (!this.registry) throw ApiError.notFound('metrics are not collected in this process (the composition root has no MetricsModule)');
    const text = await this.registry.metrics();
    res.setHeader('Content-Type', this.registry.contentType);
    return text;
  }
}
