/**
 * Redis stream ids ("<ms>-<seq>") compared numerically; "0" and "-" mean "before everything".
 * Both parts fit a double exactly (ms since 1970, seq per millisecond).
 */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = parse(a);
  const [bm, bs] = parse(b);
  return am !== bm ? Math.sign(am - bm) : Math.sign(as - bs);
}

export const isAfter = (id: string, than: string): boolean => compareStreamIds(id, than) > 0;

/** The greatest of some stream ids (undefined for none). */
export function newestStreamId(ids: Iterable<string>): string | undefined {
  let newest: string | undefined;
  for (const id of ids) if (newest === undefined || isAfter(id, newest)) newest = id;
  return newest;
}

function parse(id: string): [number, number] {
  if (id === '-' || id === '0') return [0, 0];
  const dash = id.indexOf('-');
  return dash < 0 ? [Number(id), 0] : [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}
