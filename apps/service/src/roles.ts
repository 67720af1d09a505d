export const ROLES = ['api', 'worker', 'relay'] as const;
export type Role = (typeof ROLES)[number];

/** Roles from the command line (`main.js worker relay`); none = every role in one process. */
export function parseRoles(argv: string[]): Role[] {
  const asked = argv.filter((a) => !a.startsWith('-'));
  if (asked.length === 0) return [...ROLES];
  const unknown = asked.filter((a) => !(ROLES as readonly string[]).includes(a));
  if (unknown.length) throw new Error(`unknown role ${unknown.join(', ')} (roles: ${ROLES.join(', ')})`);
  return [...new Set(asked)] as Role[];
}
