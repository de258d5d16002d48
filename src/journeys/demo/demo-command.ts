// `crossdock demo --orders N --faults on|off --json [--seed S] [--timeout SECONDS]`: runs the bounded
// demo scenario and exits 0 only when no case was left stale (lost = 0) and no milestone was written
// twice (duplicates = 0). Progress goes to stderr; with --json stdout holds one JSON object.
import { InvalidArgumentError, type Command } from 'commander';
import { runDemo, type DemoResult } from './run-demo.ts';

function positiveInt(name: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new InvalidArgumentError(`${name} must be an integer 1..${max}`);
    return n;
  };
}

function onOff(value: string): boolean {
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new InvalidArgumentError('use on or off');
}

export interface DemoCommandContext {
  /** Where the result goes (default process.stdout). */
  readonly write?: (text: string) => void;
}

export function registerDemoCommand(program: Command, ctx: DemoCommandContext = {}): Command {
  const write = ctx.write ?? ((text: string) => void process.stdout.write(text));
  return program
    .command('demo')
    .description(
      'run the sandbox systems, generated order traffic and an embedded pipeline, then check every helpdesk case against its order',
    )
    .option('--orders <n>', 'order lifecycles to run (default 100)', positiveInt('--orders', 100_000), 100)
    .option(
      '--faults <on|off>',
      '429 storms, ERP latency and outage, duplicate webhooks, lost answers (default off)',
      onOff,
      false,
    )
    .option('--seed <n>', 'seed of traffic and faults (default 1)', positiveInt('--seed', 1_000_000), 1)
    .option(
      '--timeout <seconds>',
      'how long to wait for convergence after the traffic (default 180)',
      positiveInt('--timeout', 86_400),
      180,
    )
    .option('--json', 'print the result as one JSON object')
    .action(
      async (opts: { orders: number; faults: boolean; seed: number; timeout: number; json?: boolean }) => {
        const result = await runDemo({
          orders: opts.orders,
          faults: opts.faults,
          seed: opts.seed,
          convergeTimeoutMs: opts.timeout * 1000,
        });
        write(opts.json === true ? `${JSON.stringify(result)}\n` : humanResult(result));
        process.exitCode = result.lost === 0 && result.duplicates === 0 ? 0 : 1;
      },
    );
}

function humanResult(r: DemoResult): string {
  return [
    `orders            ${r.orders}`,
    `cases expected    ${r.casesExpected}`,
    `cases up to date  ${r.casesUpdated}`,
    `lost              ${r.lost}`,
    `duplicates        ${r.duplicates}`,
    `latency p50/p99   ${r.p50Ms} ms / ${r.p99Ms} ms`,
    `throughput        ${r.perSec} orders/s`,
    '',
  ].join('\n');
}
