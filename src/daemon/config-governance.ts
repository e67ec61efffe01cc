// What the daemon does with a configuration before and after applying it: the approval gate (the signature must
// verify, against the new file's approvers and the running configuration's), and afterwards the fingerprint on
// /status and in the log, and an entry in the history (src/config/history.ts). daemon.ts decides when.
import type { Logger } from 'pino';
import { approversFor, verifyApproval } from '../config/approval.js';
import { effectiveConfig, type JsonValue } from '../config/fingerprint.js';
import { type ApprovalRecord, appendHistory, fileFacts, readHistory } from '../config/history.js';
import type { PlantConfig } from '../config/schema.js';
import { ConfigError } from '../kit/errors.js';

export interface LoadedConfig {
  config: PlantConfig;
  /** Absolute path of the file. */
  file: string;
  fingerprint: string;
  /** The bytes that were parsed. */
  source?: Buffer | undefined;
}

export interface AppliedFacts {
  fingerprint: string;
  how: 'start' | 'reload';
  at: number;
  approval?: ApprovalRecord;
}

export class ConfigGovernance {
  readonly #log: Logger;
  #applied: AppliedFacts | undefined;
  #previous: AppliedFacts | undefined;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** The configuration running now (undefined before the first start completed). */
  get applied(): AppliedFacts | undefined {
    return this.#applied;
  }

  /** For the HTTP sink's `Plantgate-Config` header: read at each request, so a reload takes effect at once. */
  readonly fingerprint = (): string | undefined => this.#applied?.fingerprint;

  /**
   * The approval gate. At start the configuration it replaces is the newest in the history (so deleting
   * `require_approval` from an unsigned file does not switch the gate off); at reload it is the running one.
   * Throws ConfigError (exit 78 at start; the running configuration stays at reload).
   */
  async approve(next: LoadedConfig, running: PlantConfig | undefined): Promise<ApprovalRecord | undefined> {
    let previous: unknown = running;
    if (running === undefined) {
      try {
        previous = (await readHistory(next.config.storage.dir)).entries.at(-1)?.config;
      } catch (err) {
        this.#log.warn({ err }, 'Reading the configuration history for the approval gate failed.');
      }
    }
    const approvers = approversFor(next.config, previous);
    if (approvers.length === 0) return undefined;
    if (!next.source) throw new ConfigError('approval required but the configuration bytes are not at hand');
    const res = await verifyApproval(next.file, next.source, approvers);
    if (!res.ok) {
      this.#log.error(
        { config_fingerprint: next.fingerprint, file: next.file },
        `The configuration is not approved: ${res.message}`,
      );
      throw new ConfigError(`configuration not approved: ${res.message}`);
    }
    this.#log.info(
      { config_fingerprint: next.fingerprint, signer: res.approval.identity, key: res.approval.key },
      'The configuration is approved.',
    );
    return res.approval;
  }

  /**
   * The configuration is being applied: from now on /status and the sinks' header show its fingerprint. Call
   * before the sinks start, so no batch leaves without it.
   */
  adopt(loaded: LoadedConfig, how: 'start' | 'reload', approval: ApprovalRecord | undefined): void {
    this.#previous = this.#applied;
    this.#applied = {
      fingerprint: loaded.fingerprint,
      how,
      at: Date.now(),
      ...(approval ? { approval } : {}),
    };
  }

  /**
   * Once applied: a log line and (unless a reload left the fingerprint unchanged) a history entry. A failed
   * history write is logged, never a reason to stop.
   */
  async record(loaded: LoadedConfig, stateDir: string, keep: number): Promise<void> {
    const applied = this.#applied;
    if (!applied) return;
    const { how, approval } = applied;
    const unchanged = how === 'reload' && this.#previous?.fingerprint === loaded.fingerprint;
    this.#log.info(
      { config_fingerprint: loaded.fingerprint, how, file: loaded.file, ...(approval ? { approval } : {}) },
      unchanged ? 'Configuration reloaded; its fingerprint is unchanged.' : `Configuration applied (${how}).`,
    );
    if (unchanged) return;
    try {
      const effective: JsonValue = effectiveConfig(loaded.config);
      await appendHistory(
        stateDir,
        {
          hash: loaded.fingerprint,
          applied_at: new Date(applied.at).toISOString(),
          how,
          file: loaded.file,
          ...(await fileFacts(loaded.file)),
          ...(approval ? { approval } : {}),
          config: effective,
        },
        keep,
      );
    } catch (err) {
      this.#log.error(
        { err },
        'Writing the configuration history failed; the configuration runs regardless.',
      );
    }
  }
}
