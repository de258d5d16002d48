// The polling loop: runs `CaptureEngine.poll` for each configured (tenant, system, stream) on an
// interval, at once again while the connector has more ready, and with doubling backoff after a
// failure (logged and counted; the cursor stays where the last committed page left it). `kick` polls a
// stream now, e.g. when a notification-only webhook says something changed. One process per stream:
// in a cluster the composition root runs pollers on the node holding the pollers' advisory lock.
import { Counter } from 'prom-client';
import type { Connector } from '../connectors/index.ts';
import { silentLogger, type Logger, type MetricsRegistry } from '../telemetry/index.ts';
import type { CaptureEngine, PollResult } from './capture-engine.ts';

export interface PollJob {
  readonly tenantId: string;
  readonly system: string;
  readonly connector: Pick<Connector, 'read'>;
  readonly stream: string;
  /** Time between polls when the stream is caught up, in ms (default 30000). */
  readonly intervalMs?: number;
}

export interface PollerOptions {
  readonly capture: CaptureEngine;
  readonly jobs: readonly PollJob[];
  /** Records per read (default: the connector's). */
  readonly limit?: number;
  /** Longest wait after repeated failures, in ms (default 300000). */
  readonly maxBackoffMs?: number;
  readonly logger?: Logger;
  readonly metrics?: MetricsRegistry;
  /** Called after each successful poll (tests and metrics of lag use it). */
  readonly onPoll?: (job: PollJob, result: PollResult) => void;
}

interface JobState {
  readonly job: PollJob;
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
  again: boolean;
  failures: number;
}

export class Poller {
  readonly #o: PollerOptions;
  readonly #logger: Logger;
  readonly #states: JobState[];
  readonly #errors: Counter<'system' | 'stream'> | undefined;
  #stopped = true;

  constructor(options: PollerOptions) {
    this.#o = options;
    this.#logger = options.logger ?? silentLogger();
    this.#states = options.jobs.map((job) => ({
      job,
      timer: undefined,
      running: undefined,
      again: false,
      failures: 0,
    }));
    this.#errors =
      options.metrics === undefined
        ? undefined
        : new Counter({
            name: 'crossdock_sync_poll_errors_total',
            help: 'Polls that failed (connector or store error); retried with backoff',
            labelNames: ['system', 'stream'],
            registers: [options.metrics],
          });
  }

  /** Polls every stream now, then on its interval. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    for (const s of this.#states) this.#run(s);
  }

  /** Polls a stream as soon as possible (after the poll in flight, if any). */
  kick(tenantId: string, system: string, stream: string): void {
    for (const s of this.#states) {
      if (s.job.tenantId === tenantId && s.job.system === system && s.job.stream === stream) this.#run(s);
    }
  }

  /** Stops scheduling and waits for polls in flight (each ends at a committed page). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const s of this.#states) clearTimeout(s.timer);
    await Promise.all(this.#states.map((s) => s.running ?? Promise.resolve()));
  }

  #run(s: JobState): void {
    if (this.#stopped) return;
    if (s.running !== undefined) {
      s.again = true;
      return;
    }
    clearTimeout(s.timer);
    s.timer = undefined;
    s.running = this.#pollOnce(s).finally(() => {
      s.running = undefined;
      if (s.again) {
        s.again = false;
        this.#run(s);
      }
    });
  }

  async #pollOnce(s: JobState): Promise<void> {
    const { job } = s;
    let delay = job.intervalMs ?? 30_000;
    try {
      const result = await this.#o.capture.poll(job.tenantId, job.system, job.connector, job.stream, {
        ...(this.#o.limit === undefined ? {} : { limit: this.#o.limit }),
      });
      s.failures = 0;
      if (result.hasMore) s.again = true;
      this.#o.onPoll?.(job, result);
    } catch (error) {
      s.failures++;
      delay = Math.min(delay * 2 ** Math.min(s.failures, 16), this.#o.maxBackoffMs ?? 300_000);
      this.#errors?.inc({ system: job.system, stream: job.stream });
      this.#logger.error(
        { err: error, tenantId: job.tenantId, system: job.system, stream: job.stream, failures: s.failures },
        'sync poll failed',
      );
    }
    if (!this.#stopped && !s.again) {
      s.timer = setTimeout(() => this.#run(s), delay);
      s.timer.unref();
    }
  }
}
