// Decides whether a new JSON Schema still accepts everything an old one accepted, so stored entities
// and clients built on the old schema keep working. It covers the shapes our TypeBox schemas use
// (objects, arrays, scalars with bounds and patterns, unions of literals, anyOf); anything it cannot
// prove compatible counts as incompatible.

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The JSON form of a TypeBox schema (TypeBox's symbol keys dropped). */
export function toJsonSchema(schema: unknown): Json {
  return JSON.parse(JSON.stringify(schema)) as Json;
}

function types(s: Json): Set<string> | undefined {
  if (typeof s.type === 'string') return new Set([s.type]);
  if (Array.isArray(s.type)) return new Set(s.type as string[]);
  return undefined;
}

function literals(s: Json): unknown[] | undefined {
  if ('const' in s) return [s.const];
  if (Array.isArray(s.enum)) return s.enum as unknown[];
  const union = s.anyOf ?? s.oneOf;
  if (Array.isArray(union) && union.every((b) => isObject(b) && 'const' in b)) {
    return (union as Json[]).map((b) => b.const);
  }
  return undefined;
}

/** Problems that make `next` reject something `prev` accepted; empty when compatible. */
export function incompatibilities(prev: unknown, next: unknown, at = ''): string[] {
  const where = at === '' ? '/' : at;
  if (!isObject(prev) || !isObject(next)) {
    return JSON.stringify(prev) === JSON.stringify(next) ? [] : [`${where}: schema changed shape`];
  }
  if (Object.keys(next).length === 0) return []; // accepts anything
  const problems: string[] = [];

  const prevLiterals = literals(prev);
  const nextLiterals = literals(next);
  if (prevLiterals !== undefined) {
    if (nextLiterals !== undefined) {
      const kept = new Set(nextLiterals.map((v) => JSON.stringify(v)));
      for (const v of prevLiterals) {
        if (!kept.has(JSON.stringify(v)))
          problems.push(`${where}: value ${JSON.stringify(v)} no longer allowed`);
      }
      return problems;
    }
    const nextTypes = types(next);
    if (nextTypes !== undefined) {
      for (const v of prevLiterals) {
        const t = typeof v === 'number' && Number.isInteger(v) ? 'integer' : typeof v;
        if (!nextTypes.has(t) && !(t === 'integer' && nextTypes.has('number'))) {
          problems.push(`${where}: value ${JSON.stringify(v)} no longer allowed`);
        }
      }
      if (
        problems.length > 0 ||
        Object.keys(next).some((k) => !['type', 'description', 'title'].includes(k))
      ) {
        return problems.length > 0
          ? problems
          : [`${where}: literal widened to a constrained type (cannot prove compatible)`];
      }
      return problems;
    }
  } else if (nextLiterals !== undefined) {
    return [`${where}: narrowed to a fixed set of values`];
  }

  const prevUnion = (prev.anyOf ?? prev.oneOf) as Json[] | undefined;
  const nextUnion = (next.anyOf ?? next.oneOf) as Json[] | undefined;
  if (prevUnion !== undefined || nextUnion !== undefined) {
    const prevBranches = prevUnion ?? [prev];
    const nextBranches = nextUnion ?? [next];
    prevBranches.forEach((branch, i) => {
      if (
        !nextBranches.some(
          (candidate) => incompatibilities(branch, candidate, `${at}/anyOf/${i}`).length === 0,
        )
      ) {
        problems.push(`${where}: union branch ${i} is no longer accepted`);
      }
    });
    return problems;
  }

  const prevTypes = types(prev);
  const nextTypes = types(next);
  if (prevTypes !== undefined && nextTypes !== undefined) {
    for (const t of prevTypes) {
      if (!nextTypes.has(t) && !(t === 'integer' && nextTypes.has('number'))) {
        problems.push(`${where}: type ${t} no longer allowed`);
      }
    }
  } else if (prevTypes === undefined && nextTypes !== undefined) {
    problems.push(`${where}: now restricted to type ${[...nextTypes].join('|')}`);
  }

  const tighter = (key: string, direction: 'min' | 'max'): void => {
    const a = prev[key];
    const b = next[key];
    if (typeof b !== 'number') return;
    if (typeof a !== 'number' || (direction === 'min' ? b > a : b < a)) {
      problems.push(`${where}: ${key} tightened to ${b}`);
    }
  };
  for (const key of ['minimum', 'exclusiveMinimum', 'minLength', 'minItems', 'minProperties'])
    tighter(key, 'min');
  for (const key of ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems', 'maxProperties'])
    tighter(key, 'max');
  for (const key of ['pattern', 'format', 'multipleOf']) {
    if (next[key] !== undefined && next[key] !== prev[key])
      problems.push(`${where}: ${key} changed to ${JSON.stringify(next[key])}`);
  }

  if (isObject(prev.properties) || isObject(next.properties)) {
    const prevProps = (prev.properties ?? {}) as Json;
    const nextProps = (next.properties ?? {}) as Json;
    const prevRequired = new Set((prev.required ?? []) as string[]);
    const nextRequired = new Set((next.required ?? []) as string[]);
    for (const name of Object.keys(prevProps)) {
      if (!(name in nextProps)) {
        // Even where extra fields are tolerated, readers relying on the field would break.
        problems.push(`${where}: field ${name} removed or renamed`);
        continue;
      }
      problems.push(...incompatibilities(prevProps[name], nextProps[name], `${at}/${name}`));
    }
    for (const name of nextRequired) {
      if (!prevRequired.has(name)) {
        problems.push(
          `${where}: field ${name} is now required${name in prevProps ? ' (was optional)' : ' (new)'}`,
        );
      }
    }
    if (next.additionalProperties === false && prev.additionalProperties !== false) {
      problems.push(`${where}: additional properties no longer allowed`);
    }
  }
  if (prev.items !== undefined || next.items !== undefined) {
    problems.push(...incompatibilities(prev.items ?? {}, next.items ?? {}, `${at}/items`));
  }
  if (isObject(prev.patternProperties) || isObject(next.patternProperties)) {
    const prevPatterns = (prev.patternProperties ?? {}) as Json;
    const nextPatterns = (next.patternProperties ?? {}) as Json;
    for (const key of Object.keys(nextPatterns)) {
      problems.push(
        ...incompatibilities(prevPatterns[key] ?? {}, nextPatterns[key], `${at}/patternProperties`),
      );
    }
  }
  return problems;
}
