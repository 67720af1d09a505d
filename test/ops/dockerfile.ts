/**
 * A small Dockerfile reader for static checks (no Docker engine needed): parser directives,
 * instructions with their line, continuation lines joined, comments dropped, grouped by stage.
 */
export interface Instruction {
  /** Upper-cased keyword: FROM, RUN, COPY, … */
  keyword: string;
  /** Everything after the keyword, continuation lines joined with a space. */
  args: string;
  line: number;
}

export interface Stage {
  /** The FROM image, with --platform removed. */
  base: string;
  name?: string;
  platform?: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  directives: Record<string, string>;
  instructions: Instruction[];
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split('\n');
  const directives: Record<string, string> = {};
  let i = 0;
  // Parser directives: only at the very top, before any other comment, blank line or instruction.
  for (; i < lines.length; i += 1) {
    const match = /^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(lines[i]);
    if (!match) break;
    directives[match[1].toLowerCase()] = match[2];
  }
  const instructions: Instruction[] = [];
  let current: Instruction | undefined;
  for (; i < lines.length; i += 1) {
    const raw = lines[i];
    const trimmed = raw.trim();
    if (!current && (trimmed === '' || trimmed.startsWith('#'))) continue;
    if (current && trimmed.startsWith('#')) continue; // comments inside a continued instruction
    const continues = trimmed.endsWith('\\');
    const body = continues ? trimmed.slice(0, -1).trim() : trimmed;
    if (!current) {
      const [keyword, ...rest] = body.split(/\s+/);
      current = { keyword: keyword.toUpperCase(), args: rest.join(' '), line: i + 1 };
    } else if (body !== '') {
      current.args = `${current.args} ${body}`.trim();
    }
    if (!continues) {
      instructions.push(current);
      current = undefined;
    }
  }
  if (current) instructions.push(current);

  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/);
      const platform = words.find((w) => w.startsWith('--platform='))?.slice('--platform='.length);
      const rest = words.filter((w) => !w.startsWith('--'));
      const asAt = rest.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ base: rest[0], name: asAt >= 0 ? rest[asAt + 1] : undefined, platform, instructions: [] });
    } else if (stages.length) {
      stages[stages.length - 1].instructions.push(instruction);
    }
  }
  return { directives, instructions, stages };
}

/** The JSON array of an exec-form instruction (ENTRYPOINT, CMD, HEALTHCHECK … CMD), or null for shell form. */
export function execForm(args: string): string[] | null {
  const start = args.indexOf('[');
  if (start < 0) return null;
  try {
    const value: unknown = JSON.parse(args.slice(start));
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : null;
  } catch {
    return null;
  }
}

/** `--from=stage` and the sources of a COPY (the last word is the destination). */
export function copySources(args: string): { from?: string; sources: string[] } {
  const words = args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  return { from, sources: paths.slice(0, -1) };
}
