// Writes the generated reference pages: docs/config.md (from the config schema) and docs/errors.md
// (from the error registry). Run with `npm run docs`; a test fails when the committed pages are stale.
import { writeFileSync } from 'node:fs';
import { renderConfigDoc } from '../src/config/config-doc.ts';
import { loadAllErrorModules, renderErrorsDoc } from '../src/errors/errors-doc.ts';

await loadAllErrorModules();
writeFileSync('docs/config.md', renderConfigDoc());
writeFileSync('docs/errors.md', renderErrorsDoc());
console.log('wrote docs/config.md and docs/errors.md');
