/** One line of at most `max` characters: whitespace collapsed, an ellipsis where it was cut. */
export function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Callback messages as a person reads them: `${{thinking.initialize_agent}}` → `thinking.initialize_agent`. */
export function readableMessage(message: string | undefined): string {
  return (message ?? '').replace(/\$\{\{([^}]+)\}\}/g, '$1');
}
