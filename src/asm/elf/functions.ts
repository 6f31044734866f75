/**
 * The functions of an assembled program as ranges of instructions, and the
 * function each bpf-to-bpf call or function-address load lands on.
 */
import { classify, EncodingError, type Instruction } from '../instruction.js';
import { CallSrc, PseudoSrc } from '../opcodes.js';
import { slotOffsets, type AssembledProgram } from '../program.js';
import { ElfError } from './errors.js';

export interface FunctionRange {
  readonly name: string;
  readonly entry: boolean;
  /** Index of the first instruction. */
  readonly start: number;
  /** Index one past the last instruction. */
  readonly end: number;
}

/** Does the instruction refer to another function by a pc-relative imm: a local call or an ld_imm64 of a function? */
function functionReference(insn: Instruction): 'call' | 'func_addr' | undefined {
  let form;
  try {
    form = classify(insn);
  } catch (error) {
    if (error instanceof EncodingError) return undefined;
    throw error;
  }
  if (form.kind === 'call' && insn.src === CallSrc.LOCAL) return 'call';
  if (form.kind === 'ld_imm64' && insn.src === PseudoSrc.FUNC) return 'func_addr';
  return undefined;
}

/**
 * The program's functions, entry first, checked to cover every instruction
 * exactly once; a program that lists none is one entry function.
 */
export function functionRanges(program: AssembledProgram): FunctionRange[] {
  const listed = program.functions.length > 0 ? program.functions : [{ name: program.name, insn: 0, length: program.insns.length, entry: true }];
  const ranges = listed.map((f) => ({ name: f.name, entry: f.entry, start: f.insn, end: f.insn + f.length })).sort((a, b) => a.start - b.start);
  let next = 0;
  for (const range of ranges) {
    if (range.start !== next || range.end <= range.start) {
      throw new ElfError(`program ${program.name}: function ${range.name} covers instructions ${range.start}-${range.end - 1}, but the previous function ends at ${next - 1}`);
    }
    next = range.end;
  }
  if (next !== program.insns.length) throw new ElfError(`program ${program.name}: its functions end at instruction ${next - 1}, but it has ${program.insns.length}`);
  const entries = ranges.filter((r) => r.entry);
  if (entries.length !== 1 || entries[0] !== ranges[0]) {
    throw new ElfError(`program ${program.name}: expected one entry function at instruction 0, found ${entries.map((e) => `${e.name} at ${e.start}`).join(', ') || 'none'}`);
  }
  return ranges;
}

/** For each instruction that refers to a function, the function it lands on (by index into `ranges`). */
export function functionTargets(program: AssembledProgram, ranges: readonly FunctionRange[]): Map<number, number> {
  const slots = slotOffsets(program.insns);
  const byStartSlot = new Map(ranges.map((r, i) => [slots[r.start]!, i]));
  const targets = new Map<number, number>();
  program.insns.forEach((insn, index) => {
    const kind = functionReference(insn);
    if (!kind) return;
    const slot = slots[index]! + 1 + insn.imm;
    const target = byStartSlot.get(slot);
    if (target === undefined) {
      throw new ElfError(`program ${program.name}: the ${kind === 'call' ? 'call' : 'function address'} at instruction ${index} lands on slot ${slot}, which starts no function`);
    }
    targets.set(index, target);
  });
  return targets;
}
