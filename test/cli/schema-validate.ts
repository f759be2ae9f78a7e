// A small JSON Schema validator: the keywords schema/result.schema.json uses
// (type, required, properties, items, enum, pattern, minimum,
// dependentRequired), each checked as draft 2020-12 defines it. Returns the
// errors as "path: what", empty when the value is valid.
export type Schema = {
  type?: string;
  required?: string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  dependentRequired?: Record<string, string[]>;
};

function typeOk(type: string, v: unknown): boolean {
  switch (type) {
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    default:
      throw new Error(`schema type ${type}: not supported by this validator`);
  }
}

export function validate(schema: Schema, v: unknown, path = '$'): string[] {
  const errors: string[] = [];
  if (schema.type !== undefined && !typeOk(schema.type, v)) return [`${path}: not a(n) ${schema.type}`];
  if (schema.enum !== undefined && !schema.enum.includes(v))
    errors.push(`${path}: not one of ${schema.enum.join(', ')}`);
  if (schema.pattern !== undefined && typeof v === 'string' && !new RegExp(schema.pattern, 'u').test(v)) {
    errors.push(`${path}: ${v} does not match ${schema.pattern}`);
  }
  if (schema.minimum !== undefined && typeof v === 'number' && v < schema.minimum) {
    errors.push(`${path}: ${v} is under ${schema.minimum}`);
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    for (const k of schema.required ?? []) if (!(k in o)) errors.push(`${path}: ${k} missing`);
    for (const [k, deps] of Object.entries(schema.dependentRequired ?? {})) {
      if (k in o) for (const d of deps) if (!(d in o)) errors.push(`${path}: has ${k} but not ${d}`);
    }
    for (const [k, s] of Object.entries(schema.properties ?? {})) {
      if (k in o) errors.push(...validate(s, o[k], `${path}.${k}`));
    }
  }
  if (Array.isArray(v) && schema.items)
    v.forEach((x, i) => errors.push(...validate(schema.items!, x, `${path}[${i}]`)));
  return errors;
}
