// The JSON Schema of the plant configuration, generated from the zod schema (descriptions included), for
// editors (yaml-language-server) and for `plantgate schema`. config/plantgate.schema.json is its committed copy.
import { z } from 'zod';
import { plantConfigSchema } from './schema.js';

export const JSON_SCHEMA_ID = 'urn:plantgate:plant-config:v1';

/** The JSON Schema (draft 2020-12) of what an engineer may write, i.e. the input side of every field. */
export function buildJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(plantConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  const { $schema, ...rest } = generated;
  return { $schema, $id: JSON_SCHEMA_ID, title: 'plantgate plant configuration', ...rest };
}

/** The exact text of config/plantgate.schema.json. */
export function jsonSchemaText(): string {
  return `${JSON.stringify(buildJsonSchema(), null, 2)}\n`;
}
