import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderConfigDoc } from '../../src/config/config-doc.ts';
import { loadAllErrorModules, renderErrorsDoc } from '../../src/errors/errors-doc.ts';
import { listErrorDefinitions } from '../../src/errors/index.ts';

describe('generated reference pages', () => {
  it('docs/config.md matches the config schema (run `npm run docs` after changing it)', () => {
    expect(readFileSync('docs/config.md', 'utf8')).toBe(renderConfigDoc());
  });

  it('docs/errors.md lists every registered error code (run `npm run docs` after adding one)', async () => {
    await loadAllErrorModules();
    expect(listErrorDefinitions().map((d) => d.code)).toContain('CONFIG_INVALID');
    const page = readFileSync('docs/errors.md', 'utf8');
    for (const def of listErrorDefinitions()) expect(page).toContain(`## ${def.code}`);
    expect(page).toBe(renderErrorsDoc());
  });
});
