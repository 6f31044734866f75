import { AsmSyntaxError } from '../errors.js';
import { slotCount, type Instruction } from '../instruction.js';
import { exit } from '../func.js';
import type { Relocation, SourceLocation } from '../program.js';

/** The result of assembling text: instructions, where each came from, and the labels it defined. */
export interface TextProgram {
  readonly insns: Instruction[];
  readonly sourceMap: SourceLocation[];
  /** Label name to instruction index. */
  readonly labels: Map<string, number>;
  /** Symbols the text refers to (pseudo-C `R_BPF_*` lines, `r1 = map ll`), when the syntax has them. */
  readonly relocations?: Relocation[];
}

/**
 * An instruction whose jump or call target is still a label name. `field`
 * says where the relative slot offset goes: `off` for 16-bit jumps, `imm`
 * for gotol and local calls.
 */
export interface PendingInsn {
  insn: Instruction;
  at: SourceLocation;
  target?: { label: string; field: 'off' | 'imm' };
}

export interface ResolveOptions {
  /**
   * Conformance-suite convention: a jump to a label `exit` that is never
   * defined goes to the program's first exit instruction.
   */
  implicitExitLabel?: boolean;
}

/**
 * Replace label targets by relative slot offsets (target slot minus the slot
 * after the jump), range-checking 16-bit offsets.
 */
export function resolveLabels(pending: readonly PendingInsn[], labels: Map<string, number>, options: ResolveOptions = {}): TextProgram {
  const slots: number[] = [];
  let slot = 0;
  for (const p of pending) {
    slots.push(slot);
    slot += slotCount(p.insn);
  }
  slots.push(slot);
  const exitCode = exit().code;
  const firstExit = pending.findIndex((p) => p.insn.code === exitCode);
  const insns = pending.map((p, index) => {
    if (!p.target) return p.insn;
    let targetIndex = labels.get(p.target.label);
    if (targetIndex === undefined && options.implicitExitLabel && p.target.label === 'exit' && firstExit >= 0) targetIndex = firstExit;
    if (targetIndex === undefined) throw new AsmSyntaxError(p.at, `undefined label '${p.target.label}'`);
    const relative = slots[targetIndex]! - slots[index + 1]!;
    if (p.target.field === 'off' && (relative < -32768 || relative > 32767)) {
      throw new AsmSyntaxError(p.at, `jump to '${p.target.label}' is ${relative} slots away, beyond the 16-bit offset range (use gotol)`);
    }
    return { ...p.insn, [p.target.field]: relative };
  });
  return { insns, sourceMap: pending.map((p) => p.at), labels };
}

/**
 * Parse an integer literal (decimal, 0x hex, optional sign) and check it fits
 * `bits` as either a signed or an unsigned value, the way assemblers accept
 * both `-1` and `0xffffffff` for a 32-bit field. Returns the signed value.
 */
export function parseInteger(text: string, bits: 16 | 32 | 64, at: SourceLocation, what: string): bigint {
  const m = /^([+-]?)(0x[0-9a-f]+|\d+)$/i.exec(text.trim());
  if (!m) throw new AsmSyntaxError(at, `${what} '${text}' is not a number`);
  const magnitude = BigInt(m[2]!);
  const value = m[1] === '-' ? -magnitude : magnitude;
  const min = -(1n << BigInt(bits - 1));
  const max = (1n << BigInt(bits)) - 1n;
  if (value < min || value > max) throw new AsmSyntaxError(at, `${what} ${text} does not fit in ${bits} bits`);
  return BigInt.asIntN(bits, value);
}
