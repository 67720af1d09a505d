// The public entry of apps/service: what other apps (the composition root) may use.
export { parseRoles } from './roles';
export { apiTokenCheck } from './api-token-check';
export { secretFileCheck } from './secret-file-check';
export { AppModule } from './app.module';
export type { Role } from './roles';
export { NestPinoLogger } from './nest-pino-logger';
export { onPath, redisAnswers, startEmbeddedRedis } from './redis-bootstrap';
export type { EmbeddedRedis } from './redis-bootstrap';
