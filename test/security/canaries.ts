import { randomBytes } from 'node:crypto';

/**
 * Unique secret values for the hostile-task suite, and every form in which a leak could carry one:
 * plain, hex (either case) and base64 at each of the three byte alignments a longer stream can put
 * it in (the middle of the encoding, where it does not depend on its neighbours).
 */
export type Canaries = Record<string, string>;

/** `<name>-<hex>` of exactly `length` characters (AES keys and IVs need fixed lengths). */
export function canary(name: string, length = 32): string {
  const head = `cn${name}`.replace(/[^A-Za-z0-9]/g, '').slice(0, Math.max(4, length - 12));
  return `${head}${randomBytes(length).toString('hex')}`.slice(0, length);
}

export function leakForms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms = new Set<string>([secret, bytes.toString('hex'), bytes.toString('hex').toUpperCase()]);
  for (let pad = 0; pad < 3; pad += 1) {
    const encoded = Buffer.concat([Buffer.alloc(pad, 0x0a), bytes]).toString('base64');
    // Drop the characters that mix in the neighbours: 4 at each end covers every alignment.
    forms.add(encoded.slice(pad === 0 ? 0 : 4, encoded.length - 4));
  }
  return [...forms].filter((f) => f.length >= 12);
}

/** Each canary (by name) found in `text`, in any of its leak forms. */
export function leaked(text: string, canaries: Canaries): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(canaries)) {
    const form = leakForms(value).find((f) => text.includes(f));
    if (form !== undefined) out.push(form === value ? name : `${name} (encoded)`);
  }
  return out;
}
