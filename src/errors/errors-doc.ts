// Renders docs/errors.md from the error registry. Each part defines its errors in
// `src/<part>/errors.ts`; `loadAllErrorModules` imports them all so the page lists every code.
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { listErrorDefinitions } from './registry.ts';
import { problemType } from './problem.ts';

const SRC = fileURLToPath(new URL('..', import.meta.url));

/** Imports every `src/<part>/errors.ts` so their definitions are registered. */
export async function loadAllErrorModules(): Promise<string[]> {
  const parts = readdirSync(SRC, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const loaded: string[] = [];
  for (const part of parts) {
    const file = join(SRC, part, 'errors.ts');
    if (existsSync(file)) {
      await import(pathToFileURL(file).href);
      loaded.push(part);
    }
  }
  return loaded;
}

export function renderErrorsDoc(): string {
  const defs = listErrorDefinitions();
  const lines = [
    '# Errors',
    '',
    '<!-- Generated from the error registry by `npm run docs`; do not edit by hand. -->',
    '',
    'Every failure in Crossdock has a stable string code, an HTTP status and a retryable flag. The API',
    'answers errors as RFC 9457 `application/problem+json`:',
    '',
    '```json',
    JSON.stringify(
      {
        type: problemType('NOT_FOUND'),
        title: 'Not found',
        status: 404,
        detail: 'route GET /v1/nope not found',
        instance: '/v1/nope',
        code: 'NOT_FOUND',
        retryable: false,
        correlationId: '4bf92f3577b34da6a3ce929d0e0e4736',
      },
      null,
      2,
    ),
    '```',
    '',
    '`retryable: true` means the same request may succeed later unchanged; a `Retry-After` header says',
    'when, if known. `correlationId` matches the `correlationId` of the server log lines for the request.',
    '',
    '| code | status | retryable | title |',
    '|---|---|---|---|',
    ...defs.map(
      (d) =>
        `| [\`${d.code}\`](#${d.code.toLowerCase()}) | ${d.status} | ${d.retryable ? 'yes' : 'no'} | ${d.title} |`,
    ),
    '',
  ];
  for (const d of defs) {
    lines.push(
      `## ${d.code}`,
      '',
      `${d.status}, ${d.retryable ? 'retryable' : 'not retryable'}. ${d.description}`,
      '',
    );
  }
  return lines.join('\n');
}
