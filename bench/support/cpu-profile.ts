import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './bench-context';

/** One function's share of V8 CPU profiles (`node --cpu-prof`). */
export interface ProfileFrame {
  /** `name file:line` (file relative to the repository when inside it). */
  frame: string;
  selfMs: number;
  /** Of the busy time counted (idle and start-up left out). */
  selfPercent: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** Samples under these frames are the process starting (module loading), not its work. */
const STARTUP = /^node:internal\/(modules\/|main\/run_main_module)/;

/** The `count` functions with the most self time over `profiles`; idle time and start-up are left out. */
export function topSelfFrames(profiles: CpuProfile[], count = 10): ProfileFrame[] {
  const self = new Map<string, number>();
  let busy = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const parent = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
    const startup = (id: number): boolean => {
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at))
        if (STARTUP.test(byId.get(at)!.callFrame.url)) return true;
      return false;
    };
    profile.samples.forEach((id, index) => {
      const delta = profile.timeDeltas[index] ?? 0;
      const frame = byId.get(id)?.callFrame;
      if (!frame || frame.functionName === '(idle)' || startup(id)) return;
      busy += delta;
      const file = frame.url.startsWith('file://') ? relative(REPO_ROOT, new URL(frame.url).pathname) : frame.url;
      const name = `${frame.functionName || '(anonymous)'}${file ? ` ${file}:${frame.lineNumber + 1}` : ''}`;
      self.set(name, (self.get(name) ?? 0) + delta);
    });
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([frame, micros]) => ({ frame, selfMs: micros / 1000, selfPercent: busy > 0 ? (100 * micros) / busy : 0 }));
}

/** The profiles `node --cpu-prof --cpu-prof-dir=<dir>` wrote for these pids (its file names carry the pid). */
export function profilesOf(dir: string, pids: readonly number[]): CpuProfile[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile') && pids.includes(Number(name.split('.')[3])))
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as CpuProfile);
}
