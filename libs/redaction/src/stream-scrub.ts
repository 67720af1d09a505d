import { createSecretMasker, secretVariants } from './secret-masker';

/** The part of a streamed event the scrubber looks at: text chunks of one item, in order. */
type Streamed = { type: string; item_id?: string; text?: string };

/**
 * Exact-secret scrubbing for text that arrives in pieces. A model may stream a secret split across
 * deltas ("e2e-Ec" + "ho-Key…"); scrubbing each piece alone would let every piece through. So the
 * end of an item's text that could still grow into a secret is held back until the next piece (or
 * any other event) shows whether it does. What is emitted, joined, is the scrubbed whole text.
 */
export class StreamScrubber {
  private readonly scrub: (text: string) => string;
  private readonly forms: string[];
  /** Held-back text per item_id, in the order items began holding. */
  private readonly held = new Map<string, string>();

  constructor(secrets: Iterable<string | null | undefined>) {
    const list = [...secrets].filter((s): s is string => typeof s === 'string');
    this.scrub = createSecretMasker(list).scrub;
    this.forms = [...new Set(list.flatMap(secretVariants))];
  }

  /** The events to emit for `event`: a chunk may be held back (none) or carry earlier held text. */
  push<E extends Streamed>(event: E): E[] {
    if (event.type !== 'chunk' || typeof event.text !== 'string' || typeof event.item_id !== 'string') return [...this.flush<E>(), event];
    const text = (this.held.get(event.item_id) ?? '') + event.text;
    const hold = this.secretPrefixAtEnd(text);
    if (hold > 0) this.held.set(event.item_id, text.slice(text.length - hold));
    else this.held.delete(event.item_id);
    const ready = text.slice(0, text.length - hold);
    return ready ? [{ ...event, text: this.scrub(ready) }] : [];
  }

  /** Releases every held-back tail (it did not grow into a secret) as chunks of their items. */
  flush<E extends Streamed>(): E[] {
    const out = [...this.held].map(([item_id, text]) => ({ type: 'chunk', item_id, text: this.scrub(text) }) as unknown as E);
    this.held.clear();
    return out;
  }

  /** Length of the longest end of `text` that is the start (not the whole) of a secret form. */
  private secretPrefixAtEnd(text: string): number {
    let longest = 0;
    for (const form of this.forms) {
      for (let n = Math.min(form.length - 1, text.length); n > longest; n--) {
        if (text.endsWith(form.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}
