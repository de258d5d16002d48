import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkflowAdminService } from '../../src/workflow/index.ts';
import { dialects, freshDatabase, type TestDatabase } from './support.ts';

const worker = path.join(import.meta.dirname, 'fixtures', 'crash-worker.ts');
const runTs = path.join(import.meta.dirname, '..', '..', 'bin', 'run-ts.js');

function startWorker(args: string[]) {
  const child = spawn(process.execPath, [runTs, worker, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const output = (marker: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (stdout.includes(marker)) resolve();
      };
      child.stdout.on('data', check);
      child.on('exit', () => reject(new Error(`worker exited before "${marker}": ${stderr}`)));
      check();
    });
  return { child, exited, output, out: () => stdout, err: () => stderr };
}

describe.each(dialects)('crash recovery on $dialect', ({ dialect, skip }) => {
  let db: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    if (skip) return;
    db = await freshDatabase(dialect);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-wf-crash-'));
  });
  afterEach(async () => {
    if (skip) return;
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(skip)(
    'a process SIGKILLed mid-run resumes on restart from the last completed step',
    async () => {
      const effects = path.join(dir, 'effects.log');
      const args = (mode: string) => [mode, JSON.stringify(db.config), effects, 'crash-run-1'];
      const first = startWorker(args('crash'));
      await first.output('IN_STEP_2');
      first.child.kill('SIGKILL');
      await first.exited;
      expect(fs.readFileSync(effects, 'utf8')).toBe('reserve-stock crash-run-1:0\n');

      const second = startWorker(args('recover'));
      expect(await second.exited).toBe(0);
      expect(second.out()).toContain(
        'RESULT ["reserve-stock:SO-7","create-shipment:SO-7","notify-case:SO-7"]',
      );
      // Step 1 was not repeated; steps 2 and 3 ran once, with their stable keys.
      expect(fs.readFileSync(effects, 'utf8').split('\n').filter(Boolean)).toEqual([
        'reserve-stock crash-run-1:0',
        'create-shipment crash-run-1:1',
        'notify-case crash-run-1:2',
      ]);
      const store = await db.open();
      try {
        const run = await new WorkflowAdminService({ store }).show('crash-run-1');
        expect(run).toMatchObject({ status: 'completed', recoveryCount: 1 });
        expect(run.steps.map((s) => s.attempts)).toEqual([1, 2, 1]);
        expect(run.steps[1]!.attemptHistory.map((a) => a.outcome)).toEqual(['interrupted']);
      } finally {
        await store.close();
      }
    },
    90_000,
  );
});
