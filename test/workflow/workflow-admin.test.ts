import { Command } from 'commander';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asCrossdockError, ForbiddenError, PROBLEM_CONTENT_TYPE, toProblem } from '../../src/errors/index.ts';
import type { Store } from '../../src/store/index.ts';
import {
  defineWorkflow,
  HttpRunsClient,
  markNotApplied,
  registerRunsCommands,
  WorkflowAdminService,
  workflowAdminRoutes,
  WorkflowRuntime,
  type RunsAdmin,
} from '../../src/workflow/index.ts';
import { createMetricsRegistry } from '../../src/telemetry/index.ts';
import { registerWorkflowMetrics } from '../../src/workflow/index.ts';
import { dialects, freshDatabase, type TestDatabase } from './support.ts';

interface TestPrincipal {
  tenants: string[] | '*';
  scopes: string[];
}

/** Stands in for the app's auth hook and error handler: keys are "tenant|scope,scope". */
function buildTestApp(admin: RunsAdmin): FastifyInstance {
  const app = Fastify();
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization?.replace(/^Bearer /, '') ?? '';
    const [tenants = '', scopes = ''] = header.split('|');
    const principal: TestPrincipal = {
      tenants: tenants === '*' ? '*' : tenants.split(','),
      scopes: scopes.split(','),
    };
    (request as unknown as { principal: TestPrincipal }).principal = principal;
    const needed = (request.routeOptions.config as { scope?: string }).scope;
    if (needed && !principal.scopes.includes(needed)) throw new ForbiddenError(`needs ${needed}`);
  });
  app.setErrorHandler((error, request, reply) => {
    if ((error as { validation?: unknown }).validation) return reply.status(400).send(error);
    const problem = toProblem(asCrossdockError(error), request.url);
    return reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
  });
  void app.register(workflowAdminRoutes, { admin });
  return app;
}

const flaky = defineWorkflow({
  name: 'dispute',
  version: 1,
  run: async (ctx, input: { amount: number }) =>
    ctx.step(
      'credit-note',
      async (s) => {
        if (s.input.amount > 100) throw markNotApplied(new Error('amount above limit'));
        return `CN-${s.input.amount}`;
      },
      { input: { amount: input.amount }, retry: { maxAttempts: 1 } },
    ),
});

describe.each(dialects)('operator controls on $dialect', ({ dialect, skip }) => {
  let db: TestDatabase;
  let store: Store;
  let runtime: WorkflowRuntime;
  let admin: WorkflowAdminService;
  let app: FastifyInstance;

  beforeEach(async () => {
    if (skip) return;
    db = await freshDatabase(dialect);
    store = await db.open();
    runtime = new WorkflowRuntime({ store, resultPollMs: 10 }).register(flaky);
    admin = new WorkflowAdminService({ store, runtime });
    app = buildTestApp(admin);
  });
  afterEach(async () => {
    if (skip) return;
    await app.close();
    await runtime.shutdown({ drainMs: 0 });
    await store.close();
    await db.drop();
  });

  it.skipIf(skip)('serves list, show, resume and cancel with scopes and tenant isolation', async () => {
    const h = await runtime.start(
      flaky,
      { amount: 250 },
      { runId: 'd-1', tenantId: 'acme', businessKeys: { case: 'RT-5' } },
    );
    await expect(h.result()).rejects.toBeDefined();
    const list = await app.inject({
      url: '/v1/admin/runs?status=failed&key=case%3DRT-5',
      headers: { authorization: 'acme|runs:read' },
    });
    expect(list.statusCode).toBe(200);
    expect(list.json().runs.map((r: { runId: string }) => r.runId)).toEqual(['d-1']);
    const hidden = await app.inject({
      url: '/v1/admin/runs/d-1',
      headers: { authorization: 'globex|runs:read' },
    });
    expect(hidden.statusCode).toBe(404);
    expect(hidden.headers['content-type']).toContain('application/problem+json');
    expect(hidden.json().code).toBe('WORKFLOW_RUN_NOT_FOUND');
    const shown = await app.inject({
      url: '/v1/admin/runs/d-1',
      headers: { authorization: 'acme|runs:read' },
    });
    expect(shown.json().steps[0]).toMatchObject({
      name: 'credit-note',
      status: 'failed',
      input: { amount: 250 },
    });
    const forbidden = await app.inject({
      method: 'POST',
      url: '/v1/admin/runs/d-1/resume',
      headers: { authorization: 'acme|runs:read' },
      payload: { stepInput: { amount: 90 } },
    });
    expect(forbidden.statusCode).toBe(403);
    const resumed = await app.inject({
      method: 'POST',
      url: '/v1/admin/runs/d-1/resume',
      headers: { authorization: 'acme|runs:write' },
      payload: { stepInput: { amount: 90 } },
    });
    expect(resumed.statusCode).toBe(200);
    expect(await runtime.result('d-1')).toBe('CN-90');
    const again = await app.inject({
      method: 'POST',
      url: '/v1/admin/runs/d-1/cancel',
      headers: { authorization: 'acme|runs:write' },
    });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'WORKFLOW_RUN_STATE', runStatus: 'completed' });
  });

  it.skipIf(skip)('the CLI lists, shows, resumes and cancels through the HTTP admin client', async () => {
    await expect(
      (
        await runtime.start(flaky, { amount: 500 }, { runId: 'd-2', businessKeys: { order: 'SO-2' } })
      ).result(),
    ).rejects.toBeDefined();
    await expect(
      (await runtime.start(flaky, { amount: 700 }, { runId: 'd-3' })).result(),
    ).rejects.toBeDefined();
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const client = new HttpRunsClient({ baseUrl: address, apiKey: '*|runs:read,runs:write' });
    const output: string[] = [];
    const cli = async (...args: string[]) => {
      const program = new Command().exitOverride();
      registerRunsCommands(program, { withAdmin: (fn) => fn(client), write: (t) => output.push(t) });
      output.length = 0;
      await program.parseAsync(['node', 'crossdock', 'runs', ...args]);
      return output.join('');
    };
    const listed = await cli('list', '--status', 'failed', '--key', 'order=SO-2');
    expect(listed).toContain('d-2');
    expect(listed).not.toContain('d-3');
    const shown = await cli('show', 'd-2');
    expect(shown).toContain('credit-note');
    expect(shown).toContain('effect none');
    expect(await cli('resume', 'd-2', '--input', '{"amount": 50}')).toContain('is pending');
    expect(await runtime.result('d-2')).toBe('CN-50');
    expect(await cli('cancel', 'd-3')).toContain('is cancelled');
    await expect(cli('retry', 'd-3')).rejects.toMatchObject({ code: 'WORKFLOW_RUN_STATE' });
    const json = JSON.parse(await cli('show', 'd-2', '--json'));
    expect(json.steps[0].idempotencyKey).toBe('d-2:0:e1');
  });

  it.skipIf(skip)('metrics count runs started, completed, failed, retries and step latency', async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    registerWorkflowMetrics(runtime.events, registry);
    await (await runtime.start(flaky, { amount: 1 })).result();
    await expect((await runtime.start(flaky, { amount: 101 })).result()).rejects.toBeDefined();
    const text = await registry.metrics();
    expect(text).toContain('crossdock_workflow_runs_started_total{workflow="dispute"} 2');
    expect(text).toContain('crossdock_workflow_runs_completed_total{workflow="dispute"} 1');
    expect(text).toContain(
      'crossdock_workflow_runs_failed_total{workflow="dispute",code="WORKFLOW_STEP_FAILED"} 1',
    );
    expect(text).toContain(
      'crossdock_workflow_step_duration_seconds_count{workflow="dispute",step="credit-note"} 1',
    );
  });
});
