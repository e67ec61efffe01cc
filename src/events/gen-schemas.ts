// Writes the published JSON Schemas of the event records (docs/schemas/events/<type>.v<N>.json) from the zod
// schemas in schemas.ts. Run `npx tsx src/events/gen-schemas.ts` after changing a payload; a test fails while
// the files are stale.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EVENT_TYPES, eventJsonSchema, schemaFileName } from './schemas.js';

/** Repository-relative folder of the published event schemas. */
export const EVENT_SCHEMA_DIR = 'docs/schemas/events';

/** File name to file content (pretty JSON with a trailing newline) for every event type. */
export function renderEventSchemas(): Map<string, string> {
  const files = new Map<string, string>();
  for (const type of EVENT_TYPES) {
    files.set(schemaFileName(type), `${JSON.stringify(eventJsonSchema(type), null, 2)}\n`);
  }
  return files;
}

export function repoRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

function main(): void {
  const dir = join(repoRoot(), EVENT_SCHEMA_DIR);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of renderEventSchemas()) {
    writeFileSync(join(dir, name), text);
    process.stdout.write(`wrote ${join(EVENT_SCHEMA_DIR, name)}\n`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
