/**
 * How the bpf_conformance suite runs its programs in the Linux kernel, redone
 * with bpfgen's instruction constructors: the runner's `--xdp_prolog true`
 * (lib/src/bpf_conformance.cc, _generate_xdp_prolog) and the libbpf plugin
 * (libbpf_plugin/libbpf_plugin.cc, generate_64_bit_return_value_fixup), both
 * at suite commit f558566, the one our copy of the suite comes from.
 *
 * The plugin loads the program as BPF_PROG_TYPE_XDP (expected attach type
 * BPF_XDP, license "MIT"), pads the memory to at least an Ethernet header
 * (14 bytes) and test-runs it with the memory as the packet. So that 64-bit
 * results survive the 32-bit XDP return value, it prepends a caller that
 * runs the test program as a subprogram and stores its full r0 in a
 * one-element array map, which it then reads as the result.
 */
import { alu } from '../../src/asm/alu.js';
import { callLocal, exit } from '../../src/asm/func.js';
import { encode, type Instruction } from '../../src/asm/instruction.js';
import { jcond } from '../../src/asm/jump.js';
import { ldPseudo, ldx, stx } from '../../src/asm/load_store.js';
import type { AssembledProgram, MapDefinition, SourceLocation } from '../../src/asm/program.js';

/** The map the caller stores r0 in: the plugin's BPF_MAP_TYPE_ARRAY, int key, u64 value, one entry. */
export const RESULT_MAP: MapDefinition = { name: 'result', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 };

/** The plugin pads `-- mem` to this many bytes: XDP test runs need an Ethernet header. */
export const MIN_PACKET_BYTES = 14;

const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R6 = 6;

/**
 * The runner's prolog (added only when the test has memory): r1 = packet
 * start, r2 = its length, after the bounds check the verifier needs; a
 * packet shorter than `memoryBytes` makes the program return -1.
 */
export function xdpProlog(memoryBytes: number): Instruction[] {
  return [
    alu('MOV', true, R0, { imm: -1 }),
    alu('MOV', true, R6, { reg: R1 }),
    ldx('W', R1, R6, 0), // xdp_md.data
    ldx('W', R2, R6, 4), // xdp_md.data_end
    alu('MOV', true, R3, { reg: R1 }),
    alu('ADD', true, R3, { imm: memoryBytes }),
    jcond('JLE', true, R3, { reg: R2 }, 1),
    exit(),
    alu('MOV', true, R2, { imm: memoryBytes }),
  ];
}

/**
 * The plugin's caller: call the test program (which starts right after
 * these 5 slots), store its r0 at offset 0 of the result map's value, exit.
 * The ld_imm64 of the map value is left to the loader's relocation.
 */
function returnValueCaller(): Instruction[] {
  return [callLocal(4), ldPseudo(R1, 'MAP_VALUE', 0), stx('DW', R1, R0, 0), exit()];
}
const CALLER_LENGTH = 4;
const MAP_VALUE_LOAD = 1;

/**
 * A suite program wrapped as the runner and the plugin wrap it, ready for
 * loadProgram. `sourceMap` (one entry per test instruction) lets verifier
 * errors name the .data file's line.
 */
export function wrapLikeLibbpfPlugin(
  name: string,
  test: { readonly insns: readonly Instruction[]; readonly sourceMap: readonly (SourceLocation | undefined)[] },
  memoryBytes: number,
): AssembledProgram {
  const prolog = memoryBytes > 0 ? xdpProlog(memoryBytes) : [];
  const caller = returnValueCaller();
  const body = [...prolog, ...test.insns];
  const insns = [...caller, ...body];
  return {
    name,
    type: 'xdp',
    license: 'MIT',
    insns,
    bytes: encode(insns),
    relocations: [{ insn: MAP_VALUE_LOAD, kind: 'map_value', symbol: RESULT_MAP.name, addend: 0 }],
    functions: [
      { name: 'caller', insn: 0, length: CALLER_LENGTH, entry: true },
      { name: 'test', insn: CALLER_LENGTH, length: body.length, entry: false },
    ],
    labels: [],
    maps: [RESULT_MAP],
    sourceMap: [...caller.map(() => undefined), ...prolog.map(() => undefined), ...test.sourceMap],
  };
}

/** `-- mem` as the plugin hands it to BPF_PROG_TEST_RUN: zero-padded to an Ethernet header. */
export function pluginPacket(memory: Uint8Array): Uint8Array {
  if (memory.byteLength >= MIN_PACKET_BYTES) return memory;
  const padded = new Uint8Array(MIN_PACKET_BYTES);
  padded.set(memory);
  return padded;
}
