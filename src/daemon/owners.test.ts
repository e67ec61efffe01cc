// Owners inherit downward: a signal's owner, else its source's, else the gateway's ("unassigned" by default);
// a pattern-declared MQTT signal takes its pattern's owner; a sink's dead letters take the sink's owner.
import { describe, expect, it } from 'vitest';
import type { PlantConfig } from '../config/schema.js';
import { ownersOf } from './owners.js';

const cfg = (gatewayOwner?: string) =>
  ({
    gateway: { id: 'gw', site: 'lyon', ...(gatewayOwner ? { owner: gatewayOwner } : {}) },
    sources: [
      {
        id: 'gen-1',
        type: 'generator',
        owner: 'maintenance',
        interval: 1000,
        batch: 1,
        seed: 1,
        signals: [
          { name: 'lyon.p1.thickness', shape: 'sine', owner: 'quality' },
          { name: 'lyon.p1.temp', shape: 'sine' },
        ],
      },
      {
        id: 'gen-2',
        type: 'generator',
        interval: 1000,
        batch: 1,
        seed: 1,
        signals: [{ name: 'lyon.p2.temp', shape: 'sine' }],
      },
    ],
    sinks: [
      { id: 'erp', type: 'http', owner: 'erp-team' },
      { id: 'central', type: 'http' },
    ],
  }) as unknown as PlantConfig;

describe('owners', () => {
  it('signal, then source, then gateway; sinks their own, then gateway', () => {
    const o = ownersOf(cfg('controls'));
    expect(o.sample('gen-1', 'lyon.p1.thickness')).toBe('quality');
    expect(o.sample('gen-1', 'lyon.p1.temp')).toBe('maintenance');
    expect(o.sample('gen-1')).toBe('maintenance');
    expect(o.sample('gen-2', 'lyon.p2.temp')).toBe('controls');
    expect(o.sample('gone', 'x.y')).toBe('controls');
    expect(o.sink('erp')).toBe('erp-team');
    expect(o.sink('central')).toBe('controls');
    expect(o.names).toEqual(['controls', 'erp-team', 'maintenance', 'quality']);
  });

  it('"unassigned" when the gateway names no owner', () => {
    const o = ownersOf(cfg());
    expect(o.sample('gen-2', 'lyon.p2.temp')).toBe('unassigned');
  });
});
