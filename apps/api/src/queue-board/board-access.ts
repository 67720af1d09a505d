import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../../../../libs/contracts/src';
import type { HttpRequest, HttpResponse, NextFunction } from '../http/http-types';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 addresses. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const ip = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return ip === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);
}

/**
 * Who may open Bull Board:
 * - BOARD_USER and BOARD_PASSWORD set: HTTP Basic auth with exactly those, from anywhere
 *   (loopback included); otherwise 401 with a `WWW-Authenticate` challenge. Both parts are
 *   hashed and both are always compared, so the check takes the same time whatever is wrong.
 * - unset: loopback clients only (the peer address; forwarded-for headers are not trusted);
 *   anyone else gets 403.
 */
export function boardAccess(config: Pick<Config, 'BOARD_USER' | 'BOARD_PASSWORD'>) {
  const { BOARD_USER: user, BOARD_PASSWORD: password } = config;
  if (!user || !password) {
    return (req: HttpRequest, res: HttpResponse, next: NextFunction): void => {
      if (isLoopback(req.socket.remoteAddress)) {
        next();
        return;
      }
      res.status(403).json({ error: 'Bull Board is served only to loopback clients; set BOARD_USER and BOARD_PASSWORD to open it with Basic auth' });
    };
  }
  const expectedUser = digest(user);
  const expectedPassword = digest(password);
  return (req: HttpRequest, res: HttpResponse, next: NextFunction): void => {
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
