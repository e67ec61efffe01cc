// The `plantgate` commands that talk to a device directly, with the connection settings of a configured
// source (not through the daemon): `opcua browse|trust|rejected` and `modbus read`, for commissioning. Only
// the yargs definitions; the work is in opcua-browse.ts, opcua.ts and modbus.ts, loaded when the command runs.

import type { Argv } from 'yargs';
import { DATA_TYPES } from '../../adapters/modbus/codec.js';
import { type CommandKit, DEFAULT_CONFIG } from './command-kit.js';

export function deviceCommands(y: Argv, kit: CommandKit): Argv {
  const { setExit } = kit;
  return y
    .command(
      'opcua <action> <source>',
      'OPC UA: browse a server (nodes, types, values and ready-to-paste signal lines), or list/trust the rejected server certificates of a source.',
      (y) =>
        y
          .positional('action', { choices: ['browse', 'trust', 'rejected'] as const, demandOption: true })
          .positional('source', {
            type: 'string',
            demandOption: true,
            describe: 'The opcua source id (browse also takes an endpoint, opc.tcp://host:port).',
          })
          .option('config', { alias: 'c', type: 'string', default: DEFAULT_CONFIG })
          .option('thumbprint', { type: 'string', describe: 'Only the certificate with this thumbprint.' })
          .option('path', {
            type: 'string',
            describe: 'browse: start at this browse path, e.g. "Objects/1:Line" (default Objects).',
          })
          .option('depth', { type: 'number', default: 3, describe: 'browse: levels below the start node.' }),
      async (argv) => {
        if (argv.action === 'browse') {
          const { opcuaBrowseCommand } = await import('./opcua-browse.js');
          setExit(await opcuaBrowseCommand(argv.config, argv.source, { path: argv.path, depth: argv.depth }));
          return;
        }
        const { opcuaCommand } = await import('./opcua.js');
        setExit(await opcuaCommand(argv.config, argv.action, argv.source, argv.thumbprint));
      },
    )
    .command(
      'modbus <action> <source> <register>',
      'Read one Modbus address with the connection settings of a source (directly from the device, not through the daemon): the raw registers and the decoded value.',
      (y) =>
        y
          .positional('action', {
            choices: ['read'] as const,
            demandOption: true,
            describe: 'read: one read request, then print the registers, the value and a signals: line.',
          })
          .positional('source', { type: 'string', demandOption: true, describe: 'The modbus source id.' })
          .positional('register', {
            type: 'string',
            demandOption: true,
            describe: 'As in the config: holding:100, input:0, coil:5, discrete:3, or Modicon 40101.',
          })
          .option('config', {
            alias: 'c',
            type: 'string',
            default: DEFAULT_CONFIG,
            describe: 'Path to the YAML file.',
          })
          .option('unit', {
            type: 'number',
            describe: "Unit id (default: the source's unit_id or only device).",
          })
          .option('type', {
            type: 'string',
            choices: DATA_TYPES,
            describe: 'How to decode the registers (default uint16; bool for coils and discrete inputs).',
          })
          .option('order', {
            type: 'string',
            choices: ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const,
            describe: 'Byte order of multi-register values.',
          })
          .option('word-order', {
            type: 'string',
            choices: ['big', 'little'] as const,
            describe: 'little = low word first (CDAB).',
          })
          .option('byte-order', {
            type: 'string',
            choices: ['big', 'little'] as const,
            describe: 'little = bytes swapped in each register (BADC).',
          })
          .option('bit', {
            type: 'number',
            describe: 'One bit (0..15) of a 16-bit register, read as a boolean.',
          })
          .option('length', { type: 'number', describe: 'For --type string: the number of registers.' })
          .option('json', {
            type: 'boolean',
            default: false,
            describe: 'Print the result as a JSON document.',
          }),
      async (argv) => {
        const { modbusReadCommand } = await import('./modbus.js');
        setExit(
          await modbusReadCommand(argv.config, argv.source, argv.register, {
            unit: argv.unit,
            type: argv.type,
            order: argv.order,
            wordOrder: argv['word-order'],
            byteOrder: argv['byte-order'],
            bit: argv.bit,
            length: argv.length,
            json: argv.json,
          }),
        );
      },
    );
}
