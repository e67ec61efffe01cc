// Opens the journal the storage section describes: the one translation of the YAML's storage keys into the
// journal's options, kept out of daemon.ts so the wiring reads as steps.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { PlantConfig } from '../config/schema.js';
import { LevelJournal } from '../journal/level-journal.js';
import { logCollectionMode } from '../journal/native-garbage.js';

export async function openJournal(storage: PlantConfig['storage'], log: Logger): Promise<LevelJournal> {
  const journal = new LevelJournal({
    dir: join(storage.dir, 'journal'),
    maxBytes: storage.max_bytes,
    maxAgeMs: storage.max_age,
    whenFull: storage.when_full,
    commitIntervalMs: storage.commit_interval,
    commitPolicy: storage.commit_interval > 0 ? 'interval' : 'eager',
    quarantine: {
      maxBytes: storage.quarantine.max_bytes,
      maxAgeMs: storage.quarantine.max_age,
      whenFull: storage.quarantine.when_full,
    },
    deadLetters: {
      maxBytes: storage.dead_letters.max_bytes,
      maxAgeMs: storage.dead_letters.max_age,
      whenFull: storage.dead_letters.when_full,
    },
    log,
  });
  await journal.open();
  logCollectionMode(log);
  return journal;
}
