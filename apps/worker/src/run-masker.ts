import { createSecretMasker, StreamScrubber, walkStrings, type SecretMasker } from '@wegent-codex/redaction';
import type { RunEvent } from './run-event';

/**
 * What one run's events and log lines may show: built once per run from its secret set (the
 * payload's and the service's secrets, the repository's credentials) and applied where events are
 * appended (RunEventEmitter) — nowhere else. Per event:
 * - the answer (`chunk` text, `done` value): exact secret values only, the text otherwise verbatim;
 *   a secret streamed across chunks is caught too (the tail that could grow into one is held back);
 * - reasoning and error texts: exact secret values, then Wegent's text rules;
 * - thinking-step details: exact secret values, then Wegent's `mask_sensitive_data` (key and text rules);
 * - `status` (the payload's context, git's workbench data: file paths, commit messages and authors
 *   the task wrote — a hostile one may put the repository's token there —, validation): exact secret
 *   values in every string, nothing else changed. A status event is no part of Codex's stream: it
 *   releases nothing held;
 * - `usage`, `retract`, `cancelled`: as they are (numbers and ids).
 */
export class RunMasker {
  private readonly masker: SecretMasker;
  private readonly stream: StreamScrubber;

  constructor(secrets: Iterable<string | null | undefined>) {
    const list = [...secrets];
    this.masker = createSecretMasker(list);
    this.stream = new StreamScrubber(list);
  }

  /** A text for a log line or an error: every secret of the run masked. */
  text(value: string): string {
    return this.masker.maskText(value);
  }

  /** A structure for a log line: secret values and values of secret keys masked. */
  deep<T>(value: T): T {
    return this.masker.maskDeep(value);
  }

  /** What to append for `event`, in order: a chunk may be held back (none), or bring held text before it. */
  events(event: RunEvent): RunEvent[] {
    const masked = this.event(event);
    return masked.type === 'status' ? [masked] : this.stream.push(masked);
  }

  private event(event: RunEvent): RunEvent {
    const m = this.masker;
    switch (event.type) {
      case 'chunk':
        return { ...event, text: m.scrub(event.text) };
      case 'done':
        return event.value === undefined ? event : { ...event, value: m.scrub(event.value) };
      case 'reasoning':
        return { ...event, text: m.maskText(event.text) };
      case 'error':
        return { ...event, message: m.maskText(event.message), ...(event.error !== undefined ? { error: m.maskText(event.error) } : {}) };
      case 'thinking-step':
        return event.step.details === undefined ? event : { ...event, step: { ...event.step, details: m.maskDeep(event.step.details) } };
      case 'status':
        return walkStrings(event, { text: m.scrub, secret: m.scrub, isSecretKey: () => false });
      default:
        return event;
    }
  }
}
