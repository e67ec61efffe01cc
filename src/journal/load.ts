// Opening a journal store: a damaged store is moved aside and a fresh one started, a locked one is refused; then
// meta and cursors are read, checked against the records (recounted after a crash that left meta behind),
// deletions a crash cut short are finished, and a store written before the side-store bounds is counted once.
import { existsSync } from 'node:fs';
import { ClassicLevel } from 'classic-level';
import { PlantgateError } from '../kit/errors.js';
import type { JournalCore, SinkRuntime } from './core.js';
import {
  countLive,
  type Db,
  findFirst,
  HWM,
  hexAt,
  isEvent,
  J,
  J_END,
  META_KEY,
  type MetaDoc,
  newMeta,
  type SinkDoc,
  type StoredDeadLetter,
  seqKey,
  seqOf,
  storedSize,
  timeKey,
} from './layout.js';
import {
  errText,
  inUseError,
  levelCode,
  makePrivate,
  moveAside,
  precheckDamage,
  writeOwner,
} from './store-files.js';

/** Opens (or creates) the store at `core.opts.dir` and loads its state into `core`. */
export async function openJournalStore(core: JournalCore): Promise<void> {
  const dir = core.opts.dir;
  // Before LevelDB creates it, so that a missing storage.dir is created private too.
  if (!existsSync(dir)) makePrivate(dir, core.log);
  let damage: string | undefined = precheckDamage(dir);
  if (damage === undefined) {
    try {
      await openStore(core);
    } catch (err) {
      const code = levelCode(err);
      if (code === 'LEVEL_LOCKED') throw inUseError(dir, err);
      if (code !== 'LEVEL_CORRUPTION' && !(err instanceof SyntaxError)) {
        throw new PlantgateError(
          'JOURNAL_DAMAGED',
          `The journal at ${dir} could not be opened: ${errText(err)}.`,
          {
            cause: err,
            retryable: true,
          },
        );
      }
      damage = errText(err);
    }
  }
  if (damage !== undefined) {
    const movedTo = moveAside(dir, damage, core.log);
    try {
      await openStore(core);
    } catch (err) {
      throw new PlantgateError(
        'JOURNAL_DAMAGED',
        `The damaged journal was moved to ${movedTo}, but a fresh journal at ${dir} could not be opened: ${errText(err)}.`,
        { cause: err },
      );
    }
    core.damaged = { moved_to: movedTo, at: Date.now(), error: damage };
    core.meta.damaged = core.damaged;
    await core.db?.put(META_KEY, JSON.stringify(core.meta), { sync: true });
  }
  core.damaged = core.meta.damaged;
  writeOwner(dir, core.log);
  makePrivate(dir, core.log);
}

async function openStore(core: JournalCore): Promise<void> {
  const db = new ClassicLevel<string, string>(core.opts.dir, {
    keyEncoding: 'utf8',
    valueEncoding: 'utf8',
    // LevelDB maps every open table file into memory; the open-table limit bounds what a long backlog read maps.
    maxOpenFiles: core.opts.maxOpenFiles ?? 74,
    ...(core.opts.maxFileSize !== undefined ? { maxFileSize: core.opts.maxFileSize } : {}),
  });
  await db.open();
  try {
    await load(core, db);
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  core.db = db;
}

/** Reads meta and cursors, checks them against the store, and finishes deletions a crash interrupted. */
async function load(core: JournalCore, db: Db): Promise<void> {
  const rawMeta = await db.get(META_KEY);
  const parsedMeta = rawMeta === undefined ? undefined : (JSON.parse(rawMeta) as Partial<MetaDoc>);
  const meta: MetaDoc = parsedMeta === undefined ? newMeta() : { ...newMeta(), ...parsedMeta };
  if (parsedMeta !== undefined && parsedMeta.kept_v === undefined) await upgradeKept(core, db, meta);
  const sinks = new Map<string, SinkRuntime>();
  for await (const [k, v] of db.iterator({ gte: 'c!', lt: 'c"' })) {
    const id = k.slice(2);
    const old = core.sinks.get(id);
    sinks.set(id, { id, doc: JSON.parse(v) as SinkDoc, selector: old?.selector, reads: [] });
  }
  // The last record key must agree with the persisted last seq: both are written in the same batch.
  const lastKeys = await db.keys({ gte: J, lt: J_END, reverse: true, limit: 1 }).all();
  const lastKey = lastKeys[0];
  const keySeq = lastKey === undefined ? 0 : seqOf(lastKey);
  if (keySeq > meta.last_seq) {
    core.log.warn(
      { meta_last_seq: meta.last_seq, key_last_seq: keySeq },
      'The journal meta is behind its newest record; counters are recounted from the records.',
    );
    meta.last_seq = keySeq;
    const live = await countLive(db, meta);
    meta.records = live.records;
    meta.bytes = live.bytes;
    await db.put(META_KEY, JSON.stringify(meta), { sync: true });
  }
  // Deletions are recorded in meta before their unsynced range clear runs; finish any a crash cut short.
  if (meta.deleted_through > 0) await db.clear({ gte: J, lte: seqKey(meta.deleted_through) });
  if (meta.drop_frontier > meta.deleted_through) {
    let dels = db.batch();
    for await (const [k, v] of db.iterator({
      gt: seqKey(meta.deleted_through),
      lte: seqKey(meta.drop_frontier),
      highWaterMarkBytes: HWM,
    })) {
      if (isEvent(v)) continue;
      dels.del(k);
      if (dels.length >= 10_000) {
        await dels.write({ sync: true });
        dels = db.batch();
      }
    }
    if (dels.length > 0) await dels.write({ sync: true });
    else await dels.close();
  }
  core.meta = meta;
  core.sinks = sinks;
  core.first = await findFirst(db, meta);
  core.compactedThrough = 0;
}

/**
 * A store written before quarantine and dead letters were bounded: counts their bytes and builds the dead
 * letters' time index once, in one synced batch with the meta that marks it done.
 */
async function upgradeKept(core: JournalCore, db: Db, meta: MetaDoc): Promise<void> {
  meta.q_bytes = 0;
  meta.q_low = meta.next_q_id;
  let first = true;
  for await (const [k, v] of db.iterator({ gte: 'q!', lt: 'q"', highWaterMarkBytes: HWM })) {
    if (first) meta.q_low = hexAt(k, 2, 16);
    first = false;
    meta.q_bytes += storedSize(k, v);
  }
  meta.dl_bytes = 0;
  const batch = db.batch();
  for await (const [k, v] of db.iterator({ gte: 'd!', lt: 'd"', highWaterMarkBytes: HWM })) {
    meta.dl_bytes += storedSize(k, v);
    const letter = (JSON.parse(v) as StoredDeadLetter).letter;
    batch.put(timeKey(letter.at, k.slice(2)), '');
  }
  meta.kept_v = 1;
  batch.put(META_KEY, JSON.stringify(meta));
  await batch.write({ sync: true });
  core.log.info(
    { quarantine_bytes: meta.q_bytes, dead_letter_bytes: meta.dl_bytes },
    'Counted the quarantine and dead letters of a store written by an older version (their bounds apply now).',
  );
}
