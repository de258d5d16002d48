// Configurable mappings in JSONata: each canonical field (typically a customer's custom fields) is an
// expression over the system payload, compiled once when the mapping is loaded. A JSONata mapping can
// extend a built-in (code) mapper: its fields are added on top, and the recorded mapping version names
// both, so stored payloads can be re-mapped (`CaptureEngine.remap`) when either changes.
import jsonata from 'jsonata';
import type { JsonValue, SourceRecord } from '../connectors/index.ts';
import { SyncMappingInvalidError } from './errors.ts';
import type { MappedLink, MappedRecord, MappingContext, RecordMapper } from './mapping.ts';

export interface JsonataLinkConfig {
  readonly relation: string;
  readonly kind: string;
  /** Expression giving the target's external id; no link when it yields nothing. */
  readonly externalId: string;
  readonly system?: string;
}

export interface JsonataMappingConfig {
  /** Version of this mapping, bumped with every edit, e.g. `acme-custom@4`. */
  readonly version: string;
  /** Canonical kind, required unless `base` gives it. */
  readonly kind?: string;
  /** Canonical field -> JSONata expression over the payload. `$record` holds externalId, updatedAt, stream. */
  readonly fields: Readonly<Record<string, string>>;
  readonly links?: readonly JsonataLinkConfig[];
  /** Built-in mapper these fields extend (its fields first, these override). */
  readonly base?: RecordMapper;
}

type Compiled = ReturnType<typeof jsonata>;

function compile(name: string, expression: string): Compiled {
  try {
    return jsonata(expression);
  } catch (error) {
    throw new SyncMappingInvalidError(name, error instanceof Error ? error.message : String(error));
  }
}

function toJson(value: unknown): JsonValue {
  // JSONata yields undefined for "no match" and may yield sequences (arrays with extra properties);
  // a JSON round trip turns both into plain JSON (undefined -> null).
  return value === undefined ? null : (JSON.parse(JSON.stringify(value)) as JsonValue);
}

/** Compiles every expression now; throws SYNC_MAPPING_INVALID naming the first that does not parse. */
export function compileJsonataMapping(config: JsonataMappingConfig): RecordMapper {
  const fields = Object.entries(config.fields).map(([field, expr]) => [field, compile(field, expr)] as const);
  const links = (config.links ?? []).map((l) => ({
    ...l,
    compiled: compile(`link ${l.relation}`, l.externalId),
  }));
  const base = config.base;
  if (base === undefined && config.kind === undefined) {
    throw new SyncMappingInvalidError('kind', 'a mapping without a base mapper needs a canonical kind');
  }
  return {
    version: base === undefined ? config.version : `${base.version}+${config.version}`,
    async map(record: SourceRecord, context: MappingContext): Promise<MappedRecord> {
      const from: MappedRecord | undefined = base === undefined ? undefined : await base.map(record, context);
      const bindings = {
        record: { externalId: record.externalId, updatedAt: record.updatedAt, stream: record.stream },
      };
      const out: Record<string, JsonValue> = { ...(from?.fields ?? {}) };
      for (const [field, expr] of fields) out[field] = toJson(await expr.evaluate(record.payload, bindings));
      const mappedLinks: MappedLink[] = [...(from?.links ?? [])];
      for (const l of links) {
        const id = toJson(await l.compiled.evaluate(record.payload, bindings));
        if (id === null || id === '') continue;
        mappedLinks.push({
          relation: l.relation,
          kind: l.kind,
          externalId: typeof id === 'string' ? id : JSON.stringify(id),
          ...(l.system === undefined ? {} : { system: l.system }),
        });
      }
      return { kind: config.kind ?? from!.kind, fields: out, links: mappedLinks };
    },
  };
}
