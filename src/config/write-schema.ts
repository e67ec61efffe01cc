// Regenerates config/plantgate.schema.json from the zod schemas: run `npx tsx src/config/write-schema.ts`
// after changing any config schema or adding an adapter to adapters/index.ts (a test fails until you do).
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { jsonSchemaText } from './json-schema.js';

export const SCHEMA_FILE = fileURLToPath(new URL('../../config/plantgate.schema.json', import.meta.url));

await writeFile(SCHEMA_FILE, jsonSchemaText());
process.stdout.write(`Wrote ${SCHEMA_FILE}.\n`);
