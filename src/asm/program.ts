import type { Instruction } from './instruction.js';
import { slotCount } from './instruction.js';

/** Where an instruction came from: the DSL call site, or a line of assembler text. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column?: number;
}

/**
 * What a relocation asks the loader (or the ELF writer) to fill in:
 * - `map_fd`: ld_imm64 of a map (src MAP_FD / MAP_IDX), ELF R_BPF_64_64;
 * - `map_value`: ld_imm64 of the address of a map value plus `addend` bytes, R_BPF_64_64;
 * - `call`: a bpf-to-bpf call to a subprogram, R_BPF_64_32;
 * - `func_addr`: ld_imm64 of a subprogram's address (src FUNC), R_BPF_64_64;
 * - `kfunc`: a call to a kernel function resolved by name against BTF.
 */
export type RelocationKind = 'map_fd' | 'map_value' | 'call' | 'func_addr' | 'kfunc';

export interface Relocation {
  /** Index into `insns` (not the slot number). */
  readonly insn: number;
  readonly kind: RelocationKind;
  readonly symbol: string;
  /** Byte offset into the map value for `map_value`. */
  readonly addend?: number;
}

export type MapType =
  | 'hash'
  | 'array'
  | 'percpu_hash'
  | 'percpu_array'
  | 'lru_hash'
  | 'lru_percpu_hash'
  | 'ringbuf'
  | 'prog_array';

export interface MapDefinition {
  readonly name: string;
  readonly type: MapType;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags?: number;
}

export type ProgramType = 'socket_filter' | 'sched_cls' | 'sched_act' | 'xdp' | 'kprobe' | 'tracepoint' | 'cgroup_skb';

/** A function inside a program: the entry point or a subprogram reached by bpf-to-bpf calls. */
export interface FunctionSymbol {
  readonly name: string;
  /** Index into `insns` of its first instruction. */
  readonly insn: number;
  /** Number of instructions (not slots). */
  readonly length: number;
  readonly entry: boolean;
}

/** A label, kept so that dumps can name jump targets. */
export interface LabelSymbol {
  readonly name: string;
  readonly insn: number;
}

/** The output of assembly: everything the loader, the ELF writer and the dumper need. */
export interface AssembledProgram {
  readonly name: string;
  readonly type: ProgramType;
  readonly license: string;
  readonly insns: readonly Instruction[];
  /** `insns` encoded, little-endian. */
  readonly bytes: Uint8Array;
  readonly relocations: readonly Relocation[];
  readonly functions: readonly FunctionSymbol[];
  readonly labels: readonly LabelSymbol[];
  readonly maps: readonly MapDefinition[];
  /** Per instruction (index into `insns`), where it was emitted; undefined when unknown. */
  readonly sourceMap: readonly (SourceLocation | undefined)[];
}

/** Slot number of each instruction: ld_imm64 takes two slots, so slot and index differ after one. */
export function slotOffsets(insns: readonly Instruction[]): number[] {
  const out: number[] = [];
  let slot = 0;
  for (const insn of insns) {
    out.push(slot);
    slot += slotCount(insn);
  }
  return out;
}

/** Inverse of slotOffsets: the instruction index that starts at each slot, or -1 inside an ld_imm64. */
export function indexBySlot(insns: readonly Instruction[]): number[] {
  const out: number[] = [];
  insns.forEach((insn, index) => {
    out.push(index);
    if (slotCount(insn) === 2) out.push(-1);
  });
  return out;
}
