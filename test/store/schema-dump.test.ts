// The committed schema dumps match what every part's migrations produce, on both dialects; when this
// fails, run `node bin/run-ts.js scripts/dump-schema.ts` and commit src/store/schema/.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { collectMigrations, renderSchema, schemaFile } from '../../scripts/dump-schema.ts';
import { pgAvailable } from '../support/services.ts';

const dialects = pgAvailable ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

describe.each(dialects)('schema dump on %s', (dialect) => {
  it('is up to date with the migrations (else run scripts/dump-schema.ts)', async () => {
    const migrations = await collectMigrations();
    const expected = await renderSchema(dialect, migrations);
    const committed = fs.existsSync(schemaFile(dialect)) ? fs.readFileSync(schemaFile(dialect), 'utf8') : '';
    expect(committed, `${schemaFile(dialect)} is stale: run node bin/run-ts.js scripts/dump-schema.ts`).toBe(
      expected,
    );
  });
});
