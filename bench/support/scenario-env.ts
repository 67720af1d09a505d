import type { FakeResponses } from '../../test/fixtures/fake-responses';
import type { BenchContext } from './bench-context';

/** What every scenario gets from bench/run.ts. */
export interface ScenarioEnv {
  ctx: BenchContext;
  /** One fake Responses API for the whole run; each scenario installs its own answers. */
  fake: FakeResponses;
  quick: boolean;
  /** A progress line on stderr (stdout stays free for the tables). */
  progress(message: string): void;
  /** A task id never used before in this run. */
  nextTaskId(): number;
}
