// Order visibility between the real Tryton and Request Tracker: how many sales per minute reach their
// RT tickets, and how long a change in Tryton takes to show on the ticket. `npm run bench:peers`
// (scripts/bench-peers.sh) starts both peers on empty databases first; run directly, it uses the
// peers whose env files are under TRYTON_HOME and RT_HOME. Runs `crossdock start` with
// examples/tryton-rt.yaml (store in a temporary folder, polls every --poll-ms, default 1000).
//  1. setup: --sales N (default 20) sales quoted and confirmed, one RT ticket naming each; waits until
//     every ticket carries its ERP Order.
//  2. measured: every sale shipped and its invoice posted, one after another as fast as Tryton takes
//     them; each change's time is noted, and the RT comment telling it is found afterwards by its
//     transaction time (RT keeps seconds: each latency is +-1 s).
// `npm run bench:peers -- --json` prints one JSON object.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCli } from '../test/support/cli.ts';
import { readEnvFile } from '../test/peers/support/peers-env.ts';
import { RtFixture } from '../test/peers/support/rt-fixture.ts';
import { TrytonFixture } from '../test/peers/support/tryton-fixture.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const num = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const sales = num('--sales', 20);
const pollMs = num('--poll-ms', 1000);
const say = (msg: string) => (json ? process.stderr.write(`${msg}\n`) : console.log(msg));

const env = {
  ...readEnvFile(path.join(process.env.TRYTON_HOME ?? '/var/lib/peers/tryton', 'env')),
  ...readEnvFile(path.join(process.env.RT_HOME ?? '/var/lib/peers/rt', 'env')),
};
for (const key of ['TRYTON_RPC_URL', 'RT_REST2_URL', 'RT_TOKEN']) {
  if (env[key] === undefined) {
    console.error(`bench:peers: ${key} unknown: start the peers with ../shared/peers/*-up.sh first`);
    process.exit(2);
  }
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

/** RT's times of the ticket's comments containing `text`. */
async function commentTimes(rt: RtFixture, ticket: string, text: string): Promise<number[]> {
  return (await rt.commentEntries(ticket)).filter((c) => c.text.includes(text)).map((c) => c.at);
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-bench-peers-'));
  const config = fs
    .readFileSync('examples/tryton-rt.yaml', 'utf8')
    .replace('./data/tryton-rt', dir)
    .replaceAll('pollIntervalMs: 2000', `pollIntervalMs: ${pollMs}`);
  const configFile = path.join(dir, 'crossdock.yaml');
  fs.writeFileSync(configFile, config);
  const tryton = new TrytonFixture(env);
  const rt = new RtFixture(env);
  const service = startCli(['start', '--config', configFile, '--port', '0'], {
    env: { TRYTON_USER: 'admin', TRYTON_PASSWORD: 'admin', RT_TIMEZONE: 'UTC', ...env },
  });
  try {
    await service.waitFor(/crossdock started/, 60_000);
    say(`setup: ${sales} sales confirmed in Tryton, one RT ticket naming each`);
    const rows: { sale: number; number: string; shipment: number; invoice: number; ticket: string }[] = [];
    for (let i = 0; i < sales; i++) {
      const { sale } = await tryton.sale();
      const created = await tryton.confirm(sale);
      const [row] = await tryton.rpc.model<{ number: string }[]>('sale.sale', 'read', [[sale], ['number']]);
      const ticket = await rt.ticket(`Question about order ${row!.number}`);
      rows.push({
        sale,
        number: row!.number,
        shipment: created.shipments[0]!,
        invoice: created.invoices[0]!,
        ticket,
      });
    }
    const linkStart = Date.now();
    for (const r of rows) {
      for (;;) {
        if ((await rt.customFields(r.ticket))['ERP Order'] === r.number) break;
        if (Date.now() - linkStart > 300_000) throw new Error(`ticket ${r.ticket} never linked`);
        await new Promise((res) => setTimeout(res, 500));
      }
    }
    say(
      `setup: every ticket linked ${((Date.now() - linkStart) / 1000).toFixed(1)} s after the last was created`,
    );

    say('measured: shipping every sale and posting its invoice');
    const changes: { ticket: string; text: string; at: number }[] = [];
    const t0 = Date.now();
    for (const r of rows) {
      await tryton.ship(r.shipment);
      changes.push({ ticket: r.ticket, text: `Order ${r.number} is shipped`, at: Date.now() });
      await tryton.post(r.invoice);
      changes.push({ ticket: r.ticket, text: `Order ${r.number} was invoiced`, at: Date.now() });
    }
    const changesDone = Date.now();
    // Wait until the last ticket tells both, then read every comment's time.
    const last = rows.at(-1)!;
    for (;;) {
      const done =
        (await commentTimes(rt, last.ticket, `Order ${last.number} was invoiced`)).length > 0 &&
        (await commentTimes(rt, last.ticket, `Order ${last.number} is shipped`)).length > 0;
      if (done) break;
      if (Date.now() - changesDone > 300_000) throw new Error('milestones did not arrive in 5 minutes');
      await new Promise((res) => setTimeout(res, 250));
    }
    const latencies: number[] = [];
    let missing = 0;
    let duplicates = 0;
    let lastSeen = 0;
    for (const c of changes) {
      let times = await commentTimes(rt, c.ticket, c.text);
      for (let i = 0; times.length === 0 && i < 120; i++) {
        await new Promise((res) => setTimeout(res, 500));
        times = await commentTimes(rt, c.ticket, c.text);
      }
      if (times.length === 0) missing++;
      if (times.length > 1) duplicates++;
      if (times[0] !== undefined) {
        // RT's Created is whole seconds: the comment came within [t, t + 1 s).
        latencies.push(Math.max(0, times[0] + 500 - c.at));
        lastSeen = Math.max(lastSeen, times[0] + 1000);
      }
    }
    const minutes = (lastSeen - t0) / 60_000;
    const result = {
      sales,
      pollIntervalMs: pollMs,
      changes: changes.length,
      missing,
      duplicates,
      tryton: { changesPerMinute: Math.round(changes.length / ((changesDone - t0) / 60_000)) },
      salesPerMinute: Math.round((sales / minutes) * 10) / 10,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      maxMs: Math.max(0, ...latencies),
    };
    if (json) console.log(JSON.stringify(result));
    else console.log(result);
  } finally {
    service.child.kill('SIGTERM');
    await service.exited;
    await tryton.close();
    await rt.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
