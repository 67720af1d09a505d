import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { Redis } from 'ioredis';
import { resolveCodexBinary } from '@wegent-codex/codex';

export interface MachineInfo {
  date: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  codex: string;
  redis: string;
  /** 1-minute load average at the start and at the end of the run (the machine is shared). */
  loadAverage: { start: number; end?: number };
}

export async function describeMachine(redisUrl: string): Promise<MachineInfo> {
  let codex: string;
  try {
    codex = execFileSync(resolveCodexBinary(), ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch (error) {
    codex = `unknown (${(error as Error).message})`;
  }
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  let redisVersion = 'unknown';
  try {
    redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
  return {
    date: new Date().toISOString(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    node: process.version,
    codex,
    redis: redisVersion,
    loadAverage: { start: loadavg()[0] },
  };
}

export const currentLoad = (): number => loadavg()[0];
