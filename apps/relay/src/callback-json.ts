/**
 * `JSON.stringify(body)` of a callback body, byte for byte, with each 2025 thinking step
 * serialised once per process instead of once per callback. A 2025 RUNNING callback resends the
 * whole step list (docs/protocol/wegent-protocol.md §5.1), so without this a subtask of N steps serialises
 * ~N²/2 steps; the step objects are shared by every callback of a fold and never changed after
 * the event that brought them was decoded, so their text can be kept (by identity, freed with
 * the fold).
 */
export function callbackJson(body: object): string {
  const result = (body as { result?: unknown }).result;
  if (!isObject(result) || !Array.isArray((result as { thinking?: unknown }).thinking)) return JSON.stringify(body);
  return objectJson(body, (key, value) => (key === 'result' ? objectJson(value as object, thinkingJson) : undefined));
}

const stepJson = new WeakMap<object, string>();

function thinkingJson(key: string, value: unknown): string | undefined {
  if (key !== 'thinking' || !Array.isArray(value)) return undefined;
  const parts = value.map((step: unknown) => {
    if (!isObject(step)) return JSON.stringify(step) ?? 'null';
    let text = stepJson.get(step);
    if (text === undefined) {
      text = JSON.stringify(step);
      stepJson.set(step, text);
    }
    return text;
  });
  return `[${parts.join(',')}]`;
}

/** An object as JSON.stringify writes it (keys in order, undefined values left out); `own` may write a value itself. */
function objectJson(value: object, own: (key: string, value: unknown) => string | undefined): string {
  const parts: string[] = [];
  for (const [key, entry] of Object.entries(value)) {
    const text = own(key, entry) ?? (JSON.stringify(entry) as string | undefined);
    if (text !== undefined) parts.push(`${JSON.stringify(key)}:${text}`);
  }
  return `{${parts.join(',')}}`;
}

const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null && !Array.isArray(value);
