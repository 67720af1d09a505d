import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Config } from '@wegent-codex/contracts';
import { LOGGER, type Logger } from '@wegent-codex/runtime';
import { bearerAuth } from './http/bearer-auth';
import { bodyParserErrors } from './http/body-errors';
import { refuseDeepJson } from './http/json-depth';
import { requestContext } from './http/request-context';

/**
 * The Express layer in front of ApiModule's routes, in order: request id and access log, bearer
 * auth for /api and /v1 (when API_TOKEN is set), the JSON body parser limited to
 * MAX_PAYLOAD_BYTES and MAX_JSON_DEPTH, and the answers to its failures (400 invalid JSON or too
 * deep, 413 too large).
 *
 * Call it on an app created with `{ bodyParser: false }`, before `listen()`/`init()`.
 */
export function configureHttpApp(app: NestExpressApplication, config: Config): NestExpressApplication {
  const logger = app.get<Logger>(LOGGER).child({ component: 'api' });
  app.disable('x-powered-by');
  app.use(requestContext(logger));
  if (config.API_TOKEN) app.use(['/api', '/v1'], bearerAuth(config.API_TOKEN));
  // Any content type: executor_manager and curl users do not always say application/json.
  // Requests without a body are left alone by the parser.
  app.useBodyParser('json', { limit: config.MAX_PAYLOAD_BYTES, type: () => true, verify: refuseDeepJson });
  app.use(bodyParserErrors(config.MAX_PAYLOAD_BYTES));
  return app;
}
