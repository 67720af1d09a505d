import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './bench-context';

/** One function's share of a V8 CPU profile (`node --cpu-prof`). */
export interface ProfileFrame {
  /** `name file:line` (file relative to the repository when inside it). */
  frame: string;
  selfMs: number;
  /** Of all sampled time, idle included. */
  selfPercent: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** The `count` functions with the most self time; `(idle)` and `(program)` are left out. */
export function topSelfFrames(profile: CpuProfile, count = 10): ProfileFrame[] {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    total += delta;
    const frame = byNode.get(id);
    if (!frame || frame.functionName === '(idle)' || frame.functionName === '(program)') return;
    const file = frame.url.startsWith('file://') ? relative(REPO_ROOT, new URL(frame.url).pathname) : frame.url;
    const name = `${frame.functionName || '(anonymous)'} ${file ? `${file}:${frame.lineNumber + 1}` : ''}`.trim();
    self.set(name, (self.get(name) ?? 0) + delta);
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([frame, micros]) => ({ frame, selfMs: micros / 1000, selfPercent: total > 0 ? (100 * micros) / total : 0 }));
}

/** Reads the newest `.cpuprofile` in `dir` (undefined when there is none). */
export function newestProfile(dir: string): CpuProfile | undefined {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .sort();
  const newest = files.at(-1);
  return newest ? (JSON.parse(readFileSync(join(dir, newest), 'utf8')) as CpuProfile) : undefined;
}
