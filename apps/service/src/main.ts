import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ConfigError, loadConfig, removeSecretsFromEnv, type Config } from '@wegent-codex/contracts';
import { createLogger, type Logger } from '@wegent-codex/runtime';
import { configureHttpApp } from '../../api/src';
import { AppModule } from './app.module';
import { NestPinoLogger } from './nest-pino-logger';
import { apiTokenCheck } from './api-token-check';
import { gitTokenKeyCheck } from './git-token-key-check';
import { installProcessGuards } from './process-guards';
import { embeddedRedisUrl, onPath, redisAnswers, startEmbeddedRedis, type EmbeddedRedis } from './redis-bootstrap';
import { parseRoles, type Role } from './roles';
import { secretFileCheck } from './secret-file-check';

/** One clear line on stderr and a non-zero exit: what an operator sees for a fatal start-up problem. */
function die(line: string): never {
  process.stderr.write(`wegent-codex: ${line}\n`);
  process.exit(1);
}

/** REDIS_URL (or REDIS_URL_FILE) was given: read at load, before removeSecretsFromEnv empties them. */
const redisUrlGiven = Boolean(process.env.REDIS_URL?.trim() || process.env.REDIS_URL_FILE?.trim());

async function ensureRedis(config: Config, logger: Logger): Promise<EmbeddedRedis | null> {
  const explicit = redisUrlGiven;
  // A password-protected embedded Redis of an earlier start still running: use its password.
  if (!explicit) config.REDIS_URL = embeddedRedisUrl(config.REDIS_URL);
  if (await redisAnswers(config.REDIS_URL)) return null;
  const binary = onPath('redis-server');
  if (explicit || config.EMBEDDED_REDIS === 'never' || !binary) {
    die(
      `cannot reach Redis at ${new URL(config.REDIS_URL).host} — set REDIS_URL to a reachable Redis (6.2+)` +
        (explicit ? '' : ', or install redis-server (e.g. `apt-get install redis-server`) and npm start runs one for you'),
    );
  }
  const embedded = await startEmbeddedRedis(binary, config.REDIS_URL);
  config.REDIS_URL = embedded.url;
  logger.warn(
    { redis_host: new URL(config.REDIS_URL).host, data_dir: embedded.dataDir },
    'no Redis answered: started an embedded redis-server (append-only file on)',
  );
  return embedded;
}

/**
 * SIGTERM/SIGINT: close the app (Nest's shutdown hooks: workers drain for SHUTDOWN_GRACE_MS,
 * relays stop), then stop the embedded Redis, then exit 0 — bounded, so a stuck close still ends
 * the process. (Nest's own enableShutdownHooks re-raises the signal after closing, which skips
 * Node's 'exit' event and would leave the embedded redis-server running.)
 */
function handleShutdownSignals(config: Config, logger: Logger, close: () => Promise<void>, embedded: EmbeddedRedis | null): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const bound = config.SHUTDOWN_GRACE_MS + config.CANCEL_GRACE_MS + 15_000;
    const timer = setTimeout(() => {
      logger.error({ bound_ms: bound }, 'shutdown did not finish in time: exiting');
      void embedded?.stop().finally(() => process.exit(1));
    }, bound);
    timer.unref();
    void close()
      .catch((error: unknown) => logger.error({ err: error instanceof Error ? error.message : String(error) }, 'error while shutting down'))
      .then(() => embedded?.stop())
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      });
  };
  // `on`, not `once`: signal-exit (loaded by execa) re-raises a signal that has no other listener.
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export async function bootstrap(roles: Role[], config: Config): Promise<void> {
  const logger = createLogger(config, { roles: roles.join(',') });
  installProcessGuards(logger);
  for (const check of [gitTokenKeyCheck(config, roles, process.env.NODE_ENV), apiTokenCheck(config, roles, process.env.NODE_ENV)]) {
    if (check.verdict === 'refuse') die(check.message);
    if (check.verdict === 'warn') logger.warn(check.message);
  }
  const embedded = await ensureRedis(config, logger);
  if (!config.SECRETS_KEY && roles.includes('api')) {
    logger.warn('SECRETS_KEY is not set: task payloads (api keys, git tokens) are stored in Redis unencrypted');
  }
  const module = AppModule.forRoles(config, roles, logger);
  const nestLogger = new NestPinoLogger(logger);
  const app = roles.includes('api')
    ? await NestFactory.create<NestExpressApplication>(module, { bodyParser: false, logger: nestLogger })
    : await NestFactory.createApplicationContext(module, { logger: nestLogger });
  handleShutdownSignals(config, logger, () => app.close(), embedded);
  if ('listen' in app) {
    configureHttpApp(app as NestExpressApplication, config);
    await (app as NestExpressApplication).listen(config.PORT, config.HOST);
    logger.info({ host: config.HOST, port: config.PORT }, 'HTTP API listening');
  } else {
    await app.init();
  }
  logger.info({ roles, redis_prefix: config.REDIS_PREFIX }, 'wegent-codex started');
}

if (require.main === module) {
  let roles: Role[];
  let config: Config;
  try {
    roles = parseRoles(process.argv.slice(2));
    config = loadConfig();
    const secretFiles = secretFileCheck(process.env, config, roles);
    if (secretFiles.verdict !== 'ok') die(secretFiles.message);
    // Secrets now live in `config` only: no child that inherits process.env by mistake gets one.
    removeSecretsFromEnv(process.env);
  } catch (error) {
    if (error instanceof ConfigError) die(`invalid configuration: ${error.message}`);
    die(error instanceof Error ? error.message : String(error));
  }
  bootstrap(roles, config).catch((error: unknown) => die(`failed to start: ${error instanceof Error ? error.message : String(error)}`));
}
