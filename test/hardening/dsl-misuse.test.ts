/**
 * DSL misuse that test/dsl-errors.test.ts does not cover (it has 34
 * classes, from unknown labels to programs over 1,000,000 instructions):
 * the remaining checks of the builder and of the building blocks, each a
 * DslError that names the line of this file where the misuse is.
 *
 * Each row records its own line with here(), on the same line as the
 * misuse, so the expected call site is read from the stack rather than
 * written down.
 */
import { describe, expect, it } from 'vitest';
import { ProgramBuilder, r0, r1, r3, r10, w1 } from '../../src/asm/dsl/index.js';
import { DslError } from '../../src/asm/errors.js';
import { udpChecksumAdjustment } from '../../src/asm/packet.js';
import { checksumDiff } from '../../src/asm/packet-tc.js';
import type { MapDefinition } from '../../src/asm/program.js';
import { loadNetworkHeaderBytes } from '../../src/asm/socket-filter.js';

const THIS_FILE = 'dsl-misuse.test.ts';

/** The line of this file that called here(). */
function here(): number {
  const frame = new Error().stack?.split('\n').find((line) => line.includes(THIS_FILE) && !line.includes('here'));
  const line = frame && /:(\d+):\d+\)?$/.exec(frame)?.[1];
  if (!line) throw new Error(`no frame of ${THIS_FILE} in the stack`);
  return Number(line);
}

const HASH: MapDefinition = { name: 'flows', type: 'hash', keySize: 4, valueSize: 8, maxEntries: 16 };
const ARRAY: MapDefinition = { name: 'config', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 };

function builder(maps: MapDefinition[] = [], type: 'xdp' | 'socket_filter' = 'xdp'): ProgramBuilder {
  return new ProgramBuilder({ name: 'misuse', type, license: 'GPL', captureSites: true, maps });
}

interface Misuse {
  readonly name: string;
  /** The line of the misuse (here() on the same line). */
  readonly at: number;
  readonly misuse: () => unknown;
  readonly detail: RegExp;
}

// Each row is one line: here() and the misuse share it.
const MISUSES: readonly Misuse[] = [
  { name: 'helper id out of range (callHelperId)', at: here(), misuse: () => builder().callHelperId(-1), detail: /helper id -1 is not a non-negative 32-bit integer/ },
  { name: 'helper id beyond 32 bits (callHelperId)', at: here(), misuse: () => builder().callHelperId(2 ** 31), detail: /helper id 2147483648/ },
  { name: 'function address into a 32-bit register', at: here(), misuse: () => builder().ldFunc(w1 as never, 'callback'), detail: /a function address is a 64-bit pointer; use r1, not w1/ },
  { name: 'label name that is not a symbol', at: here(), misuse: () => builder().label('1st'), detail: /label name '1st' must start with a letter/ },
  { name: 'subprogram name that is not a symbol', at: here(), misuse: () => builder().callLocal('has space'), detail: /subprogram name 'has space'/ },
  { name: 'map name that the kernel refuses', at: here(), misuse: () => builder().declareMap({ ...ARRAY, name: 'config-map' }), detail: /map name 'config-map' must be 1-15 characters/ },
  { name: 'map name longer than 15 characters', at: here(), misuse: () => builder().declareMap({ ...ARRAY, name: 'a_very_long_map_name' }), detail: /must be 1-15 characters/ },
  { name: 'map size that is not a 32-bit unsigned integer', at: here(), misuse: () => builder().declareMap({ ...ARRAY, maxEntries: 2 ** 32 }), detail: /maxEntries 4294967296 is not a 32-bit unsigned integer/ },
  { name: 'negative map key size', at: here(), misuse: () => builder().declareMap({ ...ARRAY, keySize: -4 }), detail: /keySize -4 is not a 32-bit unsigned integer/ },
  { name: 'direct value access to a map that is not an array', at: here(), misuse: () => builder([HASH]).ldMapValue(r1, 'flows'), detail: /map 'flows' is a hash map; direct value access needs an array map/ },
  { name: 'map reference into a 32-bit register', at: here(), misuse: () => builder([ARRAY]).ldMap(w1 as never, 'config'), detail: /a map reference is a 64-bit pointer; use r1, not w1/ },
  { name: '64-bit immediate into a 32-bit register', at: here(), misuse: () => builder().ldImm64(w1 as never, 1), detail: /ldImm64 loads a 64-bit value; use r1, not w1/ },
  { name: '64-bit immediate given as an unsafe number', at: here(), misuse: () => builder().ldImm64(r1, 2 ** 60), detail: /is not a safe integer; pass a bigint/ },
  { name: '64-bit immediate wider than 64 bits', at: here(), misuse: () => builder().ldImm64(r1, 1n << 64n), detail: /does not fit in 64 bits/ },
  { name: 'atomic operation that does not exist', at: here(), misuse: () => builder().atomic('nand' as never, 'u64', r10, -8, r1), detail: /'nand' is not an atomic operation/ },
  { name: 'access type that does not exist', at: here(), misuse: () => builder().ldx('u128' as never, r0, r1, 0), detail: /type 'u128' is not one of u8, u16, u32, u64, s8, s16, s32/ },
  { name: 'signed store', at: here(), misuse: () => builder().stx('s32' as never, r10, -4, r1), detail: /only loads sign-extend; use u32/ },
  { name: 'address in a 32-bit register', at: here(), misuse: () => builder().ldx('u32', r0, w1 as never, 0), detail: /w1 holds an address and must be used in its 64-bit form \(r1\)/ },
  { name: 'empty license', at: here(), misuse: () => new ProgramBuilder({ name: 'misuse', type: 'xdp', license: '' }), detail: /license must be a non-empty string/ },
  { name: 'map option with a name the kernel refuses', at: here(), misuse: () => new ProgramBuilder({ name: 'misuse', type: 'xdp', license: 'GPL', maps: [{ ...HASH, name: 'a.b/c' }] }), detail: /map name 'a\.b\/c'/ },
  { name: 'checksum word wider than 16 bits (udpChecksumAdjustment)', at: here(), misuse: () => udpChecksumAdjustment(0x10000, 53), detail: /checksum word 65536 is not a 16-bit value/ },
  { name: 'field value too wide for its field (checksumDiff)', at: here(), misuse: () => checksumDiff([{ bytes: 2, from: 0x10000, to: 1 }]), detail: /field value 65536 does not fit 2 bytes/ },
  { name: 'socket filter context in a register the helper overwrites', at: here(), misuse: () => loadNetworkHeaderBytes(builder([], 'socket_filter'), { ctx: r3, offset: 0, stackOffset: -8, length: 8 }, 'drop'), detail: /the context pointer must be in r1 or r6-r9, not r3/ },
];

describe('DSL misuse beyond test/dsl-errors.test.ts: a DslError at the line of the misuse', () => {
  it.each(MISUSES)('$name', ({ at, misuse, detail }) => {
    let caught: unknown;
    try {
      misuse();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DslError);
    const error = caught as DslError;
    expect(error.message).toMatch(new RegExp(`${THIS_FILE.replace('.', '\\.')}:${at}:\\d+: `));
    expect(error.detail).toMatch(detail);
    expect(error.message.split('\n')).toHaveLength(1);
  });

  it('here() reads the line it is called on', () => {
    const line = here(); const next = here();
    expect(next).toBe(line);
    expect(here()).toBe(line + 2);
  });
});

