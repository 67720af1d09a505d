import { createHash, timingSafeEqual } from 'node:crypto';
import type { HttpRequest, HttpResponse, NextFunction } from './http-types';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * The credential of an `Authorization` header: `Bearer <token>`, or `Basic <base64(user:token)>`
 * (any user). Basic is there for executor_manager's attachment sync, which posts to the base URL
 * the Wegent kit gives it (`http://kit:<token>@host:port`) and cannot add a header itself
 * (docs/protocol/wegent-protocol-2026.md §7.1; integrations/wegent).
 */
function credentialOf(header: unknown): string | null {
  if (typeof header !== 'string') return null;
  const bearer = /^Bearer +(.+)$/i.exec(header.trim());
  if (bearer) return bearer[1].trim();
  const basic = /^Basic +([A-Za-z0-9+/=]+)$/i.exec(header.trim());
  if (!basic) return null;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

/**
 * `Authorization: Bearer <token>` (or Basic with the token as password) or 401. Both sides are
 * hashed first so the comparison is constant-time whatever the lengths. Installed before the body
 * parser: an unauthenticated client cannot make the service read a large body.
 */
export function bearerAuth(token: string) {
  const expected = digest(token);
  return (req: HttpRequest, res: HttpResponse, next: NextFunction): void => {
    const credential = credentialOf(req.headers.authorization);
    if (credential !== null && timingSafeEqual(digest(credential), expected)) {
      next();
      return;
    }
    res.setHeader('WWW-Authenticate', 'Bearer');
    res.status(401).json({ error: 'missing or invalid bearer token: send "Authorization: Bearer <API_TOKEN>"' });
  };
}
