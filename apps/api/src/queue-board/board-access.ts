import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '@wegent-codex/contracts';
import type { HttpRequest, HttpResponse, NextFunction } from '../http/http-types';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 addresses. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const ip = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return ip === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);
}

/** What the board's process is: whether a worker (and so every task command it runs) shares it. */
export interface BoardExposure {
  workerInProcess: boolean;
}

/**
 * Who may open Bull Board, decided once at boot:
 * - `basic`: BOARD_USER and BOARD_PASSWORD set — HTTP Basic auth with exactly those, from anywhere.
 * - `loopback`: no credentials, and the process runs no worker and listens on loopback only —
 *   loopback clients only (the peer address; forwarded-for headers are not trusted).
 * - `off`: no credentials otherwise. A task command runs on the worker's host and is a loopback
 *   client, so loopback-only access protects nothing where a worker runs; and a non-loopback
 *   listener is reachable from the network.
 */
export type BoardPolicy = { kind: 'basic'; user: string; password: string } | { kind: 'loopback' } | { kind: 'off'; reason: string };

const LOOPBACK_HOSTS = new Set(['localhost', '::1', '[::1]']);

export function boardPolicy(config: Pick<Config, 'BOARD_USER' | 'BOARD_PASSWORD' | 'HOST'>, exposure: BoardExposure): BoardPolicy {
  const { BOARD_USER: user, BOARD_PASSWORD: password } = config;
  if (user && password) return { kind: 'basic', user, password };
  if (exposure.workerInProcess) {
    return {
      kind: 'off',
      reason: 'this process runs a worker, whose task commands are loopback clients: set BOARD_USER and BOARD_PASSWORD to serve Bull Board',
    };
  }
  if (!isLoopback(config.HOST) && !LOOPBACK_HOSTS.has(config.HOST)) {
    return { kind: 'off', reason: `HOST ${config.HOST} is not loopback-only: set BOARD_USER and BOARD_PASSWORD to serve Bull Board` };
  }
  return { kind: 'loopback' };
}

type Middleware = (req: HttpRequest, res: HttpResponse, next: NextFunction) => void;

/** The middleware that enforces a `BoardPolicy`. */
export function boardAccess(policy: BoardPolicy): Middleware {
  if (policy.kind === 'off') {
    return (_req, res) => {
      res.status(403).json({ error: `Bull Board is off: ${policy.reason}` });
    };
  }
  if (policy.kind === 'loopback') {
    return (req, res, next) => {
      if (isLoopback(req.socket.remoteAddress)) {
        next();
        return;
      }
      res
        .status(403)
        .json({ error: 'Bull Board is served only to loopback clients; set BOARD_USER and BOARD_PASSWORD to open it with Basic auth' });
    };
  }
  // Both parts are hashed and both always compared: the check takes the same time whatever is wrong.
  const expectedUser = digest(policy.user);
  const expectedPassword = digest(policy.password);
  return (req, res, next) => {
    const given = basicCredentials(req.headers.authorization);
    const userOk = timingSafeEqual(digest(given?.user ?? ''), expectedUser);
    const passwordOk = timingSafeEqual(digest(given?.password ?? ''), expectedPassword);
    if (given && userOk && passwordOk) {
      next();
      return;
    }
    res.setHeader('WWW-Authenticate', 'Basic realm="Bull Board", charset="UTF-8"');
    res.status(401).json({ error: 'Bull Board needs Basic auth with BOARD_USER and BOARD_PASSWORD' });
  };
}

function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const match = typeof header === 'string' ? /^Basic +([A-Za-z0-9+/=]+)$/i.exec(header.trim()) : null;
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Headers and a query field that proxies and frameworks use to turn a GET or POST into another method. */
const METHOD_OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'];

/**
 * The board is a window, never a lever: every route of Bull Board that changes something (queue
 * pause/resume/clean/empty/obliterate, global concurrency, job retry/promote/remove/update-data,
 * add) is a PUT, PATCH, POST or DELETE, so only GET and HEAD pass — whatever the path's case,
 * which Express matches case-insensitively. A request that asks for another method through an
 * override header or `_method` is refused too, in case a proxy in front honours it.
 */
export function readOnlyBoard(req: HttpRequest, res: HttpResponse, next: NextFunction): void {
  const method = (req.method ?? '').toUpperCase();
  const override = METHOD_OVERRIDE_HEADERS.some((name) => req.headers[name] !== undefined) || /(?:^|[?&])_method=/i.test(req.url ?? '');
  if ((method === 'GET' || method === 'HEAD') && !override) {
    next();
    return;
  }
  res.setHeader('Allow', 'GET, HEAD');
  res.status(405).json({ error: 'Bull Board is read-only here: jobs and queues are changed through the API and the operator CLI only' });
}
