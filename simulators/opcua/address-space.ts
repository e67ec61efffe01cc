// Builds the OPC UA simulator's address space on a freshly initialized server (again after every restart):
// the plant variables in folders named by their dotted paths, the open62541-style folders with numeric NodeIds,
// the Types/ and Line/ variables, and the optional Extra/ items for load tests.
import {
  type AddressSpace,
  DataType,
  StatusCodes,
  type UAObject,
  type UAVariable,
  Variant,
} from 'node-opcua';
import { makeVariant, type PlantModel } from './values.js';
import { LINE_FOLDERS, LINE_VARIABLES, PLANT, TYPE_VARIABLES, type VarDef } from './variables.js';

/** A variable in the address space and what it was made from (Extra/ items carry only their type). */
export interface SimVariable {
  v: UAVariable;
  d: VarDef | { dataType: DataType; array?: boolean };
}

export interface SimAddressSpace {
  /** Every variable by its dotted path. */
  vars: Map<string, SimVariable>;
  /** The Extra/ items, in index order (they all change every tick). */
  extraVars: UAVariable[];
  /** Adds one variable to this address space, in folders made as needed, and to `vars`. */
  addDef(d: VarDef): void;
}

/**
 * Fills the own namespace of `addressSpace`. Plant variables take their values from `model`, Types/ and Line/
 * keep values set earlier with setValue (they are in `model.values` too), and Extra/ items start at `ticks`.
 */
export function buildAddressSpace(
  addressSpace: AddressSpace,
  model: PlantModel,
  extra: number,
  ticks: number,
): SimAddressSpace {
  const ns = addressSpace.getOwnNamespace();
  const folders = new Map<string, UAObject>();
  const objectsFolder = addressSpace.rootFolder.objects;
  const folderFor = (path: string[]): UAObject => {
    let parent = objectsFolder as unknown as UAObject;
    for (let i = 0; i < path.length; i++) {
      const key = path.slice(0, i + 1).join('.');
      let f = folders.get(key);
      if (!f) {
        f = ns.addObject({
          organizedBy: i === 0 ? objectsFolder : undefined,
          componentOf: i === 0 ? undefined : parent,
          browseName: path[i] as string,
          nodeId: `s=${key}`,
        });
        folders.set(key, f);
      }
      parent = f;
    }
    return parent;
  };
  const vars = new Map<string, SimVariable>();
  const now = new Date();
  for (const d of PLANT) {
    const parts = d.path.split('.');
    const v = ns.addVariable({
      componentOf: folderFor(parts.slice(0, -1)),
      browseName: parts[parts.length - 1] as string,
      nodeId: `s=${d.path}`,
      dataType: d.dataType,
      valueRank: d.array ? 1 : -1,
      ...(d.array ? { arrayDimensions: [(d.initial as unknown[]).length] } : {}),
      description: d.unit ? `${d.description} [${d.unit}]` : d.description,
      minimumSamplingInterval: 0,
      accessLevel: 'CurrentRead | CurrentWrite',
      userAccessLevel: 'CurrentRead | CurrentWrite',
    });
    v.setValueFromSource(makeVariant(d, model.values.get(d.path)), StatusCodes.Good, now);
    vars.set(d.path, { v, d });
  }
  // Types/ and Line/: fixed values (kept across restarts once set with setValue).
  for (const f of LINE_FOLDERS) {
    const parts = f.path.split('.');
    const parentPath = parts.slice(0, -1).join('.');
    const parent = parentPath ? folders.get(parentPath) : undefined;
    folders.set(
      f.path,
      ns.addObject({
        organizedBy: parent ? undefined : objectsFolder,
        componentOf: parent,
        browseName: parts[parts.length - 1] as string,
        nodeId: f.nodeId,
        typeDefinition: 'FolderType',
      }),
    );
  }
  const addDef = (d: VarDef) => {
    const parts = d.path.split('.');
    const parent = folders.get(parts.slice(0, -1).join('.')) ?? folderFor(parts.slice(0, -1));
    const v = ns.addVariable({
      componentOf: parent,
      browseName: parts[parts.length - 1] as string,
      nodeId: d.nodeId ?? `s=${d.path}`,
      dataType: d.dataType,
      valueRank: d.array ? 1 : -1,
      ...(d.array ? { arrayDimensions: [(d.initial as unknown[]).length] } : {}),
      description: d.unit ? `${d.description} [${d.unit}]` : d.description,
      minimumSamplingInterval: 0,
      accessLevel: 'CurrentRead | CurrentWrite',
      userAccessLevel: 'CurrentRead | CurrentWrite',
    });
    const value = model.values.has(d.path) ? model.values.get(d.path) : d.initial;
    v.setValueFromSource(makeVariant(d, value), StatusCodes.Good, new Date());
    vars.set(d.path, { v, d });
  };
  for (const d of [...TYPE_VARIABLES, ...LINE_VARIABLES]) addDef(d);
  const extraVars: UAVariable[] = [];
  if (extra > 0) {
    const folder = ns.addObject({ organizedBy: objectsFolder, browseName: 'Extra', nodeId: 's=Extra' });
    for (let i = 0; i < extra; i++) {
      const v = ns.addVariable({
        componentOf: folder,
        browseName: `Item${i}`,
        nodeId: `s=Extra.${i}`,
        dataType: DataType.Double,
        minimumSamplingInterval: 0,
      });
      v.setValueFromSource(
        new Variant({ dataType: DataType.Double, value: ticks + i / 1e6 }),
        StatusCodes.Good,
        now,
      );
      vars.set(`Extra.${i}`, { v, d: { dataType: DataType.Double } });
      extraVars.push(v);
    }
  }
  return { vars, extraVars, addDef };
}
