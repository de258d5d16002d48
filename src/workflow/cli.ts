// `crossdock runs list|show|retry|resume|cancel`: command builders for commander. The composition root
// decides where the commands act (the admin HTTP API when a server runs, else a local service on the
// store) by lending a RunsAdmin through `withAdmin`.
import fs from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { RUN_STATUSES, type RunStatus } from './workflow-journal.ts';
import type { RunDetail, RunListQuery, RunsAdmin, RunSummary } from './workflow-admin-service.ts';

export interface RunsCommandsContext {
  /** Lends a RunsAdmin for one command and releases it afterwards (closing a local store, say). */
  withAdmin<T>(fn: (admin: RunsAdmin) => Promise<T>): Promise<T>;
  /** Where output goes (default process.stdout). */
  readonly write?: (text: string) => void;
}

function parseStatus(value: string): RunStatus {
  if (!(RUN_STATUSES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`expected one of ${RUN_STATUSES.join(', ')}`);
  }
  return value as RunStatus;
}

function parseInstant(value: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgumentError('expected a date-time such as 2026-11-27T10:00:00Z');
  return ms;
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 500) throw new InvalidArgumentError('expected an integer 1..500');
  return n;
}

function parseKey(value: string): { name: string; value: string } {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('expected name=value, e.g. order=SO-1042');
  return { name: value.slice(0, at), value: value.slice(at + 1) };
}

function pad(cells: string[][]): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function summaryLine(r: RunSummary): string {
  const error = r.error ? `  error: ${r.error.code}: ${r.error.message}` : '';
  return `run ${r.runId} (${r.workflowName} v${r.workflowVersion}, tenant ${r.tenantId}) is ${r.status}${error}`;
}

export function formatRunDetail(run: RunDetail): string {
  const lines = [
    summaryLine(run),
    `created ${run.createdAt}  updated ${run.updatedAt}${run.completedAt ? `  completed ${run.completedAt}` : ''}${
      run.durationMs === null ? '' : `  (${run.durationMs} ms)`
    }`,
    `business keys: ${
      Object.entries(run.businessKeys)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '-'
    }`,
    `recoveries: ${run.recoveryCount}  owner: ${run.owner ?? '-'}`,
    '',
  ];
  if (run.steps.length === 0) lines.push('no steps journaled');
  else {
    lines.push(
      pad([
        ['STEP', 'NAME', 'STATUS', 'ATTEMPTS', 'DURATION', 'IDEMPOTENCY KEY', 'ERROR'],
        ...run.steps.map((s) => [
          String(s.stepId),
          s.name,
          s.status,
          String(s.attempts),
          `${s.durationMs} ms`,
          s.idempotencyKey,
          s.error ? `${s.error.code}: ${s.error.message}` : '',
        ]),
      ]),
    );
    for (const s of run.steps) {
      for (const a of s.attemptHistory) {
        lines.push(
          `  step ${s.stepId} attempt ${a.attempt}: ${a.outcome}, effect ${a.effect}${
            a.errorCode ? `, ${a.errorCode}: ${a.errorMessage ?? ''}` : ''
          }${a.nextRetryAt ? `, retry at ${new Date(a.nextRetryAt).toISOString()}` : ''} [${a.idempotencyKey}]`,
        );
      }
    }
  }
  return lines.join('\n');
}

/** Adds `runs` with its subcommands to `program`. */
export function registerRunsCommands(program: Command, ctx: RunsCommandsContext): Command {
  const write = ctx.write ?? ((text: string) => void process.stdout.write(text));
  const out = (text: string) => write(text.endsWith('\n') ? text : `${text}\n`);
  const runs = program.command('runs').description('inspect and control workflow runs');

  runs
    .command('list')
    .description('list runs, newest first')
    .option('--status <status>', `one of ${RUN_STATUSES.join(', ')}`, parseStatus)
    .option('--workflow <name>', 'workflow name')
    .option('--tenant <id>', 'tenant id')
    .option('--key <name=value>', 'business key, e.g. order=SO-1042', parseKey)
    .option('--from <date-time>', 'created at or after', parseInstant)
    .option('--to <date-time>', 'created before', parseInstant)
    .option('--limit <n>', 'page size (default 50)', parseLimit)
    .option('--cursor <cursor>', 'next page, from a previous listing')
    .option('--json', 'print JSON')
    .action(
      async (opts: {
        status?: RunStatus;
        workflow?: string;
        tenant?: string;
        key?: { name: string; value: string };
        from?: number;
        to?: number;
        limit?: number;
        cursor?: string;
        json?: boolean;
      }) => {
        const query: RunListQuery = {
          status: opts.status,
          workflowName: opts.workflow,
          tenantId: opts.tenant,
          businessKey: opts.key,
          createdFrom: opts.from,
          createdTo: opts.to,
          limit: opts.limit,
          cursor: opts.cursor,
        };
        const page = await ctx.withAdmin((admin) => admin.list(query));
        if (opts.json) return out(JSON.stringify(page, null, 2));
        if (page.runs.length === 0) return out('no runs match');
        out(
          pad([
            ['RUN', 'WORKFLOW', 'VERSION', 'TENANT', 'STATUS', 'CREATED', 'KEYS', 'ERROR'],
            ...page.runs.map((r) => [
              r.runId,
              r.workflowName,
              String(r.workflowVersion),
              r.tenantId,
              r.status,
              r.createdAt,
              Object.entries(r.businessKeys)
                .map(([k, v]) => `${k}=${v}`)
                .join(','),
              r.error ? r.error.code : '',
            ]),
          ]),
        );
        if (page.nextCursor) out(`more: --cursor ${page.nextCursor}`);
      },
    );

  runs
    .command('show <runId>')
    .description("show a run's journal: steps, attempts, timings")
    .option('--json', 'print JSON')
    .action(async (runId: string, opts: { json?: boolean }) => {
      const run = await ctx.withAdmin((admin) => admin.show(runId));
      out(opts.json ? JSON.stringify(run, null, 2) : formatRunDetail(run));
    });

  runs
    .command('retry <runId>')
    .description('retry a failed run from its failed step (same input, same idempotency key)')
    .action(async (runId: string) => {
      out(summaryLine(await ctx.withAdmin((admin) => admin.retry(runId))));
    });

  runs
    .command('resume <runId>')
    .description(
      'resume a failed run with edited input for its failed step (new idempotency key; refused if an earlier attempt may have had an effect)',
    )
    .option('--input <json>', 'edited step input as JSON')
    .option('--input-file <path>', 'file holding the edited step input as JSON')
    .action(async (runId: string, opts: { input?: string; inputFile?: string }) => {
      const text = opts.inputFile !== undefined ? fs.readFileSync(opts.inputFile, 'utf8') : opts.input;
      if (text === undefined) throw new InvalidArgumentError('give --input <json> or --input-file <path>');
      let stepInput: unknown;
      try {
        stepInput = JSON.parse(text);
      } catch {
        throw new InvalidArgumentError('the step input is not valid JSON');
      }
      out(summaryLine(await ctx.withAdmin((admin) => admin.resume(runId, stepInput))));
    });

  runs
    .command('cancel <runId>')
    .description('cancel a pending, running or failed run')
    .action(async (runId: string) => {
      out(summaryLine(await ctx.withAdmin((admin) => admin.cancel(runId))));
    });

  return runs;
}
