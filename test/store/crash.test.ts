// A durable write whose promise resolved survives the process being killed with SIGKILL right after,
// on both dialects: the child prints each resolved id, the parent kills it mid-stream, reopens the
// store and finds every printed row.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.ts';
import { dialectCases } from './store-fixtures.ts';

const child = path.join(import.meta.dirname, 'fixtures', 'durable-child.ts');

describe.each(dialectCases)('durability on $dialect', ({ open }) => {
  it('keeps every row whose appendDurable resolved when the process is SIGKILLed right after', async () => {
    const opened = await open();
    // The child opens its own store on the same database; this one only holds the place for cleanup.
    await opened.store.close();
    const resolved: number[] = [];
    const proc = spawn(process.execPath, ['bin/run-ts.js', child, JSON.stringify(opened.config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      proc.stdout.on('data', (d: Buffer) => {
        buffer += d.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        for (const line of lines) {
          const m = /^durable (\d+)$/.exec(line);
          if (m !== null) resolved.push(Number(m[1]));
        }
        if (resolved.length >= 500 && proc.exitCode === null) {
          proc.kill('SIGKILL');
        }
      });
      proc.on('exit', (_code, signal) =>
        signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited without being killed: ${stderr}`)),
      );
    });
    const store = await openStore(opened.config);
    try {
      const rows = await store
        .db<{ crash_log: { id: number } }>()
        .selectFrom('crash_log')
        .select('id')
        .execute();
      const present = new Set(rows.map((r) => Number(r.id)));
      const missing = resolved.filter((id) => !present.has(id));
      expect(resolved.length).toBeGreaterThanOrEqual(500);
      expect(missing).toEqual([]);
    } finally {
      await store.close();
      await opened.cleanup().catch(() => undefined);
    }
  });
});
