# A second, independent Modbus RTU implementation for the serial tests (issue 17, item 4): pymodbus, as Debian 12
# ships it (python3-pymodbus 3.0), serves RTU on a serial device, so the adapter's framing, CRC and decoding are
# checked against a stack that shares no code with ours or with modbus-serial.
#
# Usage: /usr/bin/python3 rtu_server.py DEVICE BAUD PARITY STOP_BITS DATA.json
#   PARITY is none, even or odd; DATA.json maps unit ids to "table:address" -> values, tables as in plant.yaml:
#   {"1": {"holding:6": [32773], "coil:0": [true, false]}, "2": {"input:0": [16938]}}
# Every table of every unit holds all 65536 addresses (zero unless DATA sets them), so a read that spans a gap
# is answered as a real device answers it. Prints "ready DEVICE" once the device is open; SIGTERM stops it.
#
# Written against pymodbus 3.0's API (pymodbus.server.async_io.ModbusSerialServer), which differs from 2.x and
# from 3.5+; it refuses any other version rather than fail in an obscure way.
import asyncio
import json
import signal
import sys

import pymodbus
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.server.async_io import ModbusSerialServer

TABLES = {"holding": "hr", "input": "ir", "coil": "co", "discrete": "di"}
PARITIES = {"none": "N", "even": "E", "odd": "O"}
ADDRESSES = 65536


def unit_context(registers):
    blocks = {key: [0] * ADDRESSES for key in TABLES.values()}
    for where, values in registers.items():
        table, _, address = where.partition(":")
        if table not in TABLES or not address.isdigit():
            raise ValueError(f'"{where}" is not "table:address" with a table of {sorted(TABLES)}')
        start = int(address)
        if start + len(values) > ADDRESSES:
            raise ValueError(f'"{where}" with {len(values)} values runs past address {ADDRESSES - 1}')
        block = blocks[TABLES[table]]
        for i, value in enumerate(values):
            block[start + i] = int(value)
    # zero_mode: request address N reads element N (pymodbus otherwise shifts by one, Modicon style).
    return ModbusSlaveContext(
        zero_mode=True, **{key: ModbusSequentialDataBlock(0, values) for key, values in blocks.items()}
    )


async def serve(device, baud, parity, stop_bits, data):
    context = ModbusServerContext(
        slaves={int(unit): unit_context(regs) for unit, regs in data.items()}, single=False
    )
    server = ModbusSerialServer(
        context,
        framer=ModbusRtuFramer,
        port=device,
        baudrate=baud,
        parity=PARITIES[parity],
        stopbits=stop_bits,
        bytesize=8,
        # A unit that is not on the line stays silent, as on a real bus (no gateway exception).
        ignore_missing_slaves=True,
    )
    await server.start()
    # pymodbus 3.0 logs a failed open at debug level and carries on without a port; say it and fail instead.
    if server.transport is None:
        print(f"pymodbus could not open {device}", file=sys.stderr, flush=True)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready {device}", flush=True)
    await stop.wait()
    await server.shutdown()
    return 0


def main(argv):
    if len(argv) != 6:
        print(f"usage: {argv[0]} DEVICE BAUD PARITY STOP_BITS DATA.json", file=sys.stderr)
        return 2
    if not pymodbus.__version__.startswith("3.0."):
        print(f"written for pymodbus 3.0 (Debian 12), found {pymodbus.__version__}", file=sys.stderr)
        return 2
    device, baud, parity, stop_bits, data_path = argv[1:]
    if parity not in PARITIES:
        print(f"parity must be one of {sorted(PARITIES)}, not {parity}", file=sys.stderr)
        return 2
    with open(data_path, encoding="utf-8") as f:
        data = json.load(f)
    return asyncio.run(serve(device, int(baud), parity, int(stop_bits), data))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
