import { ExpressAdapter } from '@bull-board/express';
import { BullBoardModule, type BullBoardModuleOptions } from '@bull-board/nestjs';
import { Module, type DynamicModule } from '@nestjs/common';
import { TASK_QUEUE_NAME, type Config } from '@wegent-codex/contracts';
import { CONFIG, LOGGER, type Logger } from '@wegent-codex/runtime';
import type { HttpRequest, HttpResponse, NextFunction } from '../http/http-types';
import { boardAccess, boardPolicy, readOnlyBoard, type BoardExposure } from './board-access';
import { RedactingBullMQAdapter } from './job-data-redaction';

export const BOARD_ROUTE = '/admin/queues';

/**
 * @bull-board/express 9.10.1 carries its own copy of @bull-board/api 9.10.1 next to our 9.10.2;
 * the two declare the same adapter interface separately (private fields), so TypeScript sees
 * them as different types. At run time the adapter only calls the board's public methods.
 */
const ServerAdapter = ExpressAdapter as unknown as BullBoardModuleOptions['adapter'];

/**
 * Bull Board for the task queue at /admin/queues, to watch — never to act: read-only (GET and HEAD
 * only, queue in read-only mode), Basic auth with BOARD_USER/BOARD_PASSWORD (or loopback clients
 * only in an api-only process on loopback; otherwise off, said once at boot), job data shown with
 * every secret masked. A job's progress (phase, last step) and its log lines come from the worker.
 * Needs QueueModule (the queue is looked up by name).
 */
@Module({})
export class QueueBoardModule {
  static forRoot(exposure: BoardExposure): DynamicModule {
    return {
      module: QueueBoardModule,
      imports: [
        BullBoardModule.forRootAsync({
          inject: [CONFIG, LOGGER],
          useFactory: (config: Config, logger: Logger) => {
            const policy = boardPolicy(config, exposure);
            if (policy.kind === 'off') logger.warn({ route: BOARD_ROUTE }, `Bull Board is off: ${policy.reason}`);
            else
              logger.info(
                { route: BOARD_ROUTE, access: policy.kind === 'basic' ? 'basic auth' : 'loopback only' },
                'Bull Board served read-only',
              );
            const access = boardAccess(policy);
            return {
              route: BOARD_ROUTE,
              adapter: ServerAdapter,
              middleware: (req: HttpRequest, res: HttpResponse, next: NextFunction) =>
                access(req, res, () => readOnlyBoard(req, res, next)),
              boardOptions: { uiConfig: { boardTitle: 'wegent-codex' } },
            };
          },
        }),
        BullBoardModule.forFeature({
          name: TASK_QUEUE_NAME,
          adapter: RedactingBullMQAdapter,
          options: { readOnlyMode: true, allowRetries: false },
        }),
      ],
    };
  }
}
