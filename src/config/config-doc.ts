// Renders docs/config.md from the configuration schema, so the page can never drift from what
// `crossdock` accepts (a test compares the committed page with this output).
import { KindGuard, type TSchema } from '@sinclair/typebox';
import { ConfigSchema, isSecretSchema } from './schema.ts';
import { expectedForm, scalarKeys } from './load-config.ts';

interface Row {
  key: string;
  form: string;
  defaultValue: string;
  env: string;
  secret: boolean;
  description: string;
}

function rows(schema: TSchema, path: string[], envByKey: Map<string, string[]>, out: Row[]): void {
  if (KindGuard.IsObject(schema)) {
    for (const [name, child] of Object.entries(schema.properties))
      rows(child, [...path, name], envByKey, out);
    return;
  }
  const s = schema as Record<string, unknown> & TSchema;
  const key = path.join('.').replace(/\.\[\]/g, '[]');
  out.push({
    key,
    form: expectedForm(schema),
    defaultValue: s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``,
    env: (envByKey.get(key) ?? []).map((e) => `\`${e}\``).join(', '),
    secret: isSecretSchema(schema),
    description: typeof s.description === 'string' ? s.description : '',
  });
  if (KindGuard.IsArray(schema) && KindGuard.IsObject(schema.items)) {
    rows(schema.items, [...path, '[]'], envByKey, out);
  }
  if (KindGuard.IsRecord(schema)) {
    const value = Object.values(schema.patternProperties)[0];
    if (value !== undefined && KindGuard.IsObject(value)) rows(value, [...path, '<name>'], envByKey, out);
  }
}

export function renderConfigDoc(): string {
  const envByKey = new Map(scalarKeys().map((k) => [k.path.join('.'), k.envNames]));
  const all: Row[] = [];
  rows(ConfigSchema, [], envByKey, all);
  const esc = (t: string) => t.replace(/\|/g, '\\|');
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Crossdock reads an optional YAML file (`crossdock start --config FILE`), then environment',
    'overrides, and validates the result against one schema at start. `crossdock config validate FILE`',
    'checks a file without starting anything. A bad value stops Crossdock with exit code 2 and a message',
    'naming the key, the value (unless it is a secret) and the expected form.',
    '',
    '## Secrets',
    '',
    'Any string value can reference a secret instead of holding it: `${env:NAME}` reads an environment',
    'variable and `${file:PATH}` reads a file (relative to the configuration file; one trailing newline is',
    'dropped). References may be embedded, e.g. `postgres://crossdock:${env:PGPASSWORD}@db/crossdock`.',
    'Values that come from a reference, and keys marked secret below, are never printed, never logged',
    '(every log line is scrubbed of them) and shown as `<secret>` in error messages.',
    '',
    '## Environment overrides',
    '',
    'Every key outside a list can be set by the environment variable named in the table, `CROSSDOCK_`',
    'followed by the key in upper snake case. The environment wins over the file; `--port` wins over both.',
    '',
    '## Keys',
    '',
    '| key | accepts | default | environment | secret | meaning |',
    '|---|---|---|---|---|---|',
    ...all.map(
      (r) =>
        `| \`${r.key}\` | ${esc(r.form)} | ${esc(r.defaultValue)} | ${r.env} | ${r.secret ? 'yes' : ''} | ${esc(r.description)} |`,
    ),
    '',
    '## Example',
    '',
    '```yaml',
    'server:',
    '  port: 7400',
    'store:',
    '  dialect: postgres',
    '  postgresUrl: ${env:DATABASE_URL}',
    'auth:',
    '  apiKeys:',
    '    - id: service-desk',
    '      key: ${file:/run/secrets/service-desk-key}',
    '      scopes: [entities:read, runs:read]',
    '      tenants: [acme]',
    'tenants:',
    '  - id: acme',
    '    name: ACME Distribution',
    '```',
    '',
  ];
  return lines.join('\n');
}
