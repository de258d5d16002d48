// One consumer process of the `postgres_nats` event benchmark: consumes the partitions of group
// `bench` from JetStream (partition leases in PostgreSQL), counts applied events and records the
// append-to-handler latency of the paced ones (wall clock: the parent stamps `data.t` at append).
// Talks to the parent over IPC: sends `{applied, owned, cpuUs}` every 100 ms; on `{cmd: 'latencies'}` sends
// the recorded latencies; on `{cmd: 'stop'}` stops and exits.
// Usage (spawned by bench/events-bench.ts): node bin/run-ts.js bench/events-cluster-node.ts <pgUrl> <natsUrl> <stream> <prefix> <partitions> <name>
import { performance } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import { openStore } from '../src/store/index.ts';
import { EventDispatcher, EventLog, PartitionedNatsConsumer } from '../src/events/index.ts';

const [pgUrl, natsUrl, stream, prefix, partitions, name] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const send = (m: unknown) => process.send?.(m);
const store = await openStore({ dialect: 'postgres', postgres: { url: pgUrl, poolSize: 8 } });
const log = new EventLog({ store });
const dispatcher = new EventDispatcher({ log, owner: name, pollIntervalMs: 5000 });
const nc = await connect({ servers: natsUrl });
let applied = 0;
const latencies: number[] = [];
const consumer = new PartitionedNatsConsumer({
  dispatcher,
  nats: nc,
  group: 'bench',
  stream,
  subjectPrefix: prefix,
  partitions: Number(partitions),
  rebalanceMs: 500,
  consumerOptions: { batchSize: 1000 },
  handler: (e) => {
    applied++;
    const t = e.data.t;
    if (e.data.paced === true && typeof t === 'number')
      latencies.push(performance.timeOrigin + performance.now() - t);
  },
});
await consumer.start();
const cpuAt = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
const timer = setInterval(() => send({ applied, owned: consumer.owned().length, cpuUs: cpuAt() }), 100);
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'cpu') {
    send({ cpuUs: cpuAt(), applied });
  } else if (m.cmd === 'latencies') {
    send({ latencies: latencies.splice(0) });
  } else if (m.cmd === 'stop') {
    clearInterval(timer);
    void consumer
      .stop()
      .then(() => dispatcher.stop())
      .then(() => nc.close())
      .then(() => store.close())
      .then(() => process.exit(0));
  }
});
send({ ready: true });
