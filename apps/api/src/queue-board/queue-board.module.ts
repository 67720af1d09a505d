import { ExpressAdapter } from '@bull-board/express';
import { BullBoardModule, type BullBoardModuleOptions } from '@bull-board/nestjs';
import { Module } from '@nestjs/common';
import { TASK_QUEUE_NAME, type Config } from '../../../../libs/contracts/src';
import { CONFIG } from '../../../../libs/runtime/src';
import type { HttpRequest, HttpResponse, NextFunction } from '../http/http-types';
import { boardAccess } from './board-access';
import { RedactingBullMQAdapter, refuseJobDataEdits } from './job-data-redaction';

export const BOARD_ROUTE = '/admin/queues';

/**
 * @bull-board/express 9.10.1 carries its own copy of @bull-board/api 9.10.1 next to our 9.10.2;
 * the two declare the same adapter interface separately (private fields), so TypeScript sees
 * them as different types. At run time the adapter only calls the board's public methods.
 */
const ServerAdapter = ExpressAdapter as unknown as BullBoardModuleOptions['adapter'];

/**
 * Bull Board for the task queue at /admin/queues: Basic auth with BOARD_USER/BOARD_PASSWORD, or
 * loopback clients only when they are unset; job data shown with every secret masked. Retrying a
 * job is off: a Codex run is never repeated (the processor would end it as already finished).
 * Needs QueueModule (the queue is looked up by name).
 */
@Module({
  imports: [
    BullBoardModule.forRootAsync({
      inject: [CONFIG],
      useFactory: (config: Config) => {
        const access = boardAccess(config);
        return {
          route: BOARD_ROUTE,
          adapter: ServerAdapter,
          middleware: (req: HttpRequest, res: HttpResponse, next: NextFunction) => access(req, res, () => refuseJobDataEdits(req, res, next)),
          boardOptions: { uiConfig: { boardTitle: 'wegent-codex' } },
        };
      },
    }),
    BullBoardModule.forFeature({ name: TASK_QUEUE_NAME, adapter: RedactingBullMQAdapter, options: { allowRetries: false } }),
  ],
})
export class QueueBoardModule {}
