// `crossdock sync backfill --system NAME [--since DATE] [--share F]`: the initial load. Reads the
// records a connected system already holds through the same capture path as live polling (mapping,
// ownership, the journey's links and case writes), at `low` rate-budget priority and on a share of
// the system's rate (default half, one request at a time) so the live service keeps the rest, with a
// progress line per stream. Each stream keeps its own backfill cursor, so an
// interrupted backfill run again with the same --since resumes where it stopped. Case writes the
// captured records call for are made by the running service (its sweep finds them within a second),
// or when it next starts.
import { InvalidArgumentError, type Command } from 'commander';
import pino from 'pino';
import { migrateStore, openConfiguredStore } from '../app/store-setup.ts';
import { loadConfig } from '../config/index.ts';
import { TokenBucketRateBudget, type Priority, type RateBudget } from '../connectors/index.ts';
import { RateBudgets } from '../workflow/index.ts';
import { buildOrderVisibility, systemBudgetSettings } from '../journeys/index.ts';
import { JourneyConfigInvalidError } from '../journeys/errors.ts';
import { createLogger } from '../telemetry/index.ts';

export interface BackfillStreamResult {
  readonly stream: string;
  readonly records: number;
  readonly applied: number;
  readonly pages: number;
  readonly seconds: number;
}

export interface BackfillResult {
  readonly system: string;
  readonly since: string | null;
  readonly streams: readonly BackfillStreamResult[];
  readonly records: number;
  readonly applied: number;
  readonly seconds: number;
}

function fraction(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 1)) {
    throw new InvalidArgumentError(
      `--share: got ${JSON.stringify(value)}, expected a number above 0 and at most 1`,
    );
  }
  return n;
}

function isoDate(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new InvalidArgumentError(
      `--since: got ${JSON.stringify(value)}, expected a date or time such as 2026-11-01 or 2026-11-01T08:00:00Z`,
    );
  }
  return new Date(ms).toISOString();
}

export interface SyncCommandContext {
  /** Where results go (default process.stdout); progress goes to stderr. */
  readonly write?: (text: string) => void;
  readonly progress?: (text: string) => void;
}

export function registerSyncCommands(program: Command, ctx: SyncCommandContext = {}): Command {
  const write = ctx.write ?? ((text: string) => void process.stdout.write(text));
  const progress = ctx.progress ?? ((text: string) => void process.stderr.write(text));
  const sync = program.command('sync').description('capture and propagation between connected systems');
  sync
    .command('backfill')
    .description(
      'load the records a system already holds through the capture path, at low priority, with progress',
    )
    .requiredOption('--system <name>', 'configured system to read (a key of `systems:`)')
    .option('--since <date>', 'only records changed at or after this date or time (default: all)', isoDate)
    .option(
      '--share <fraction>',
      "share of the system's rate budget the backfill may use, one request at a time (default 0.5)",
      fraction,
      0.5,
    )
    .option('-c, --config <file>', 'YAML configuration file (see docs/config.md)')
    .option('--json', 'print the result as one JSON object')
    .action(
      async (opts: { system: string; since?: string; share: number; config?: string; json?: boolean }) => {
        const loaded = loadConfig(opts.config !== undefined ? { file: opts.config } : {});
        // Logs go to stderr with the progress lines: stdout holds only the result.
        const logger = createLogger({
          level: 'warn',
          secrets: loaded.secrets,
          destination: pino.destination(2),
        });
        const { config } = loaded;
        const store = await openConfiguredStore(config, { logger });
        const budgets = new RateBudgets({ store, logger });
        try {
          await migrateStore(store);
          const setup = buildOrderVisibility({
            config,
            store,
            defaultTenant: config.tenants[0]?.id ?? 'default',
            logger,
            // The running service writes what the captured records call for, never this process.
            captureOnly: true,
            // The system's budget in the store, shared with the running service, so together they
            // keep its rate; within it the backfill takes at most its share, one request at a time.
            rateBudget: (name, system) => {
              const settings = systemBudgetSettings(system);
              const shared = budgets.forSystem(name, settings);
              if (name !== opts.system) return shared;
              const share = new TokenBucketRateBudget({
                ratePerSecond: opts.share * settings.ratePerSecond,
                maxInFlight: 1,
              });
              return both(share, shared);
            },
          });
          if (setup === undefined || !(opts.system in setup.connectors)) {
            const journeySystems = setup === undefined ? [] : Object.keys(setup.connectors);
            throw new JourneyConfigInvalidError(
              'orderVisibility',
              `--system ${opts.system}: not a system of a configured journey (${journeySystems.join(', ') || 'none configured'})`,
            );
          }
          try {
            const streams = setup.journey.polledStreams(opts.system);
            const result = await backfill(setup, opts.system, streams, opts.since, progress);
            write(opts.json === true ? `${JSON.stringify(result)}\n` : humanResult(result));
          } finally {
            await setup.close();
          }
        } finally {
          await store.close();
        }
      },
    );
  return sync;
}

/** A budget that grants a call only when both `first` and `second` do (first asked first). */
function both(first: RateBudget, second: RateBudget): RateBudget {
  return {
    async acquire(priority?: Priority, signal?: AbortSignal) {
      const a = await first.acquire(priority, signal);
      try {
        const b = await second.acquire(priority, signal);
        return () => {
          b();
          a();
        };
      } catch (error) {
        a();
        throw error;
      }
    },
    backOff(ms: number) {
      first.backOff(ms);
      second.backOff(ms);
    },
  };
}

async function backfill(
  setup: NonNullable<ReturnType<typeof buildOrderVisibility>>,
  system: string,
  streams: readonly string[],
  since: string | undefined,
  progress: (text: string) => void,
): Promise<BackfillResult> {
  const started = Date.now();
  const connector = setup.connectors[system]!;
  const results: BackfillStreamResult[] = [];
  for (const stream of streams) {
    const t0 = Date.now();
    let records = 0;
    let applied = 0;
    let pages = 0;
    let newest: string | undefined;
    let lastLine = 0;
    const line = (done: boolean) => {
      const seconds = (Date.now() - t0) / 1000;
      const rate = seconds > 0 ? Math.round(records / seconds) : records;
      progress(
        `backfill ${system} ${stream}: ${records} records read, ${applied} applied, ${pages} pages` +
          `${newest === undefined ? '' : `, up to ${newest.slice(0, 19)}Z`}, ${rate}/s${done ? ' - done' : ''}\n`,
      );
    };
    for (;;) {
      const result = await setup.journey.engine.poll(setup.tenantId, system, connector, stream, {
        cursorName: `backfill:${stream}:${since ?? 'all'}`,
        ...(since === undefined ? {} : { since }),
        priority: 'low',
        maxPages: 50,
        onPage: (page) => {
          records += page.records;
          applied += page.applied;
          pages++;
          if (page.newest !== undefined) newest = page.newest;
          if (Date.now() - lastLine >= 1000) {
            lastLine = Date.now();
            line(false);
          }
        },
      });
      if (!result.hasMore) break;
    }
    line(true);
    results.push({ stream, records, applied, pages, seconds: (Date.now() - t0) / 1000 });
  }
  return {
    system,
    since: since ?? null,
    streams: results,
    records: results.reduce((n, r) => n + r.records, 0),
    applied: results.reduce((n, r) => n + r.applied, 0),
    seconds: (Date.now() - started) / 1000,
  };
}

function humanResult(r: BackfillResult): string {
  return [
    ...r.streams.map(
      (s) =>
        `${s.stream.padEnd(20)} ${String(s.records).padStart(8)} read ${String(s.applied).padStart(8)} applied`,
    ),
    `${r.system}: ${r.records} records read, ${r.applied} applied in ${r.seconds.toFixed(1)} s` +
      (r.since === null ? '' : ` (since ${r.since})`),
    'Case writes they call for are made by the running service, or when it next starts.',
    '',
  ].join('\n');
}
