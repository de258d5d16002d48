// Runs the four sandbox systems on their own, for poking at them by hand or pointing a Crossdock
// elsewhere at them: `node bin/run-ts.js src/sandbox/run-sandbox.ts [--rate 2 | --orders 50]
// [--seed 1] [--ports 0] [--faults '{"all":{"errorRate":0.02}}']`. Prints one JSON line with the
// URLs and keys, then one per traffic summary; Ctrl-C stops.
import { Command } from 'commander';
import type { FaultConfig } from './faults.ts';
import { startSandbox, type SandboxSystem } from './sandbox.ts';
import { runTraffic, startTraffic } from './traffic.ts';

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

const program = new Command()
  .name('run-sandbox')
  .option('--rate <ordersPerSecond>', 'continuous traffic: new orders per second (default 1)', Number)
  .option(
    '--orders <n>',
    'bounded traffic: run this many order lifecycles, print the result and keep serving',
    Number,
  )
  .option('--no-traffic', 'serve the systems without generating traffic')
  .option('--seed <n>', 'seed of the traffic and the faults (default 1)', Number, 1)
  .option('--ports <n>', '0 for free ports instead of 7401-7404')
  .option('--faults <json>', 'faults per system, e.g. {"all":{"errorRate":0.02}}')
  .parse();

const options = program.opts<{
  rate?: number;
  orders?: number;
  traffic: boolean;
  seed: number;
  ports?: string;
  faults?: string;
}>();

const sandbox = await startSandbox({
  seed: options.seed,
  ...(options.ports === '0' ? { ports: 0 as const } : {}),
  ...(options.faults === undefined
    ? {}
    : { faults: JSON.parse(options.faults) as Partial<Record<SandboxSystem | 'all', FaultConfig>> }),
});
print({ urls: sandbox.urls, apiKeys: sandbox.apiKeys });

let stopTraffic: (() => Promise<unknown>) | undefined;
if (options.traffic && options.orders !== undefined) {
  const result = await runTraffic(sandbox, { orders: options.orders, seed: options.seed });
  print({
    orders: result.orders.length,
    cases: result.cases.length,
    errors: result.errors,
    retries: result.retries,
  });
} else if (options.traffic) {
  const traffic = startTraffic(sandbox, { ordersPerSecond: options.rate ?? 1, seed: options.seed });
  stopTraffic = () => traffic.stop();
  const timer = setInterval(() => {
    const r = traffic.snapshot();
    print({
      orders: r.orders.length,
      completed: r.orders.filter((o) => o.completed).length,
      cases: r.cases.length,
      errors: r.errors.length,
    });
  }, 10_000);
  timer.unref();
}

const shutdown = async () => {
  await stopTraffic?.();
  await sandbox.stop();
  process.exit(0);
};
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
