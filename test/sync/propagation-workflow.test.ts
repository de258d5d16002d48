// The propagator as a durable workflow step (src/workflow runtime, SQLite): a burst of ten desired
// changes, each starting a run, makes one helpdesk comment; an ambiguous write fails the step, the
// runtime retries it, and the ledger finds the comment by its marker instead of posting it twice.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, storeMigrations, type Store } from '../../src/store/index.ts';
import {
  EffectLedger,
  Propagator,
  propagationWorkflow,
  setDesired,
  startPropagation,
  syncMigrations,
} from '../../src/sync/index.ts';
import { WorkflowRuntime, workflowMigrations } from '../../src/workflow/index.ts';
import {
  commentDeskConnector,
  setFaults,
  startCommentDesk,
  type CommentDesk,
} from './support/comment-desk.ts';
import { freshTenant } from './support/harness.ts';

describe('propagation as a workflow step', () => {
  let dir: string;
  let store: Store;
  let desk: CommentDesk;
  let runtime: WorkflowRuntime;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-'));
    store = await openStore({ dialect: 'sqlite', sqlite: { path: path.join(dir, 'wf.db') } });
    await store.migrate([...storeMigrations, ...workflowMigrations, ...syncMigrations]);
    desk = await startCommentDesk();
    const connector = commentDeskConnector(desk.url);
    const propagator = new Propagator({
      store,
      ledger: new EffectLedger({ store }),
      connector: () => connector,
      buildCommand: (d) => ({
        type: 'case.comment',
        args: { ticket: d.recordKey, text: `status ${JSON.stringify(d.fields.orderStatus)} v${d.version}` },
      }),
    });
    runtime = new WorkflowRuntime({ store, resultPollMs: 10 }).register(
      propagationWorkflow(propagator, { maxAttempts: 3, initialIntervalMs: 10, jitter: 0 }),
    );
  });
  afterAll(async () => {
    await runtime.shutdown();
    await desk.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs ten propagations of a burst and writes one comment', async () => {
    const tenant = freshTenant();
    const target = { system: 'comment-desk', recordKey: `case:${tenant}` };
    const versions: number[] = [];
    for (let i = 1; i <= 10; i++) {
      versions.push(await store.durable((tx) => setDesired(tx, tenant, target, { orderStatus: `s${i}` })));
    }
    const outputs = [];
    for (const v of versions)
      outputs.push(await (await startPropagation(runtime, tenant, target, v)).result());
    expect(outputs[0]).toEqual({ status: 'written', version: 10 });
    expect(outputs.slice(1).every((o) => o.status === 'up-to-date')).toBe(true);
    expect((await desk.comments(target.recordKey)).map((c) => c.body.split('\n')[0])).toEqual([
      'status "s10" v10',
    ]);
  });

  it('retries an ambiguous write as a step attempt and finds it instead of writing it twice', async () => {
    const tenant = freshTenant();
    const target = { system: 'comment-desk', recordKey: `case:${tenant}` };
    const v = await store.durable((tx) => setDesired(tx, tenant, target, { orderStatus: 'shipped' }));
    await setFaults(desk.url, { dropAfterApply: 1 });
    const output = await (await startPropagation(runtime, tenant, target, v)).result();
    expect(output).toEqual({ status: 'written', version: 1 });
    expect(await desk.comments(target.recordKey)).toHaveLength(1);
  });
});
