import { createHash, timingSafeEqual } from 'node:crypto';
import type { HttpRequest, HttpResponse, NextFunction } from './http-types';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * `Authorization: Bearer <token>` or 401. Both sides are hashed first so the comparison is
 * constant-time whatever the lengths. Installed before the body parser: an unauthenticated
 * client cannot make the service read a large body.
 */
export function bearerAuth(token: string) {
  const expected = digest(token);
  return (req: HttpRequest, res: HttpResponse, next: NextFunction): void => {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer +(.+)$/i.exec(header.trim()) : null;
    if (match && timingSafeEqual(digest(match[1].trim()), expected)) {
      next();
      return;
    }
    res.setHeader('WWW-Authenticate', 'Bearer');
    res.status(401).json({ error: 'missing or invalid bearer token: send "Authorization: Bearer <API_TOKEN>"' });
  };
}
