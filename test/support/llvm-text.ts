/**
 * LLVM's disassembly text and ours, line by line: the instruction lines of
 * `llvm-objdump -d` and of formatLlvm, and where our text deliberately
 * differs from LLVM's (each difference with its reason). Shared by the
 * golden tests against llvm-mc objects and the ELF reader's tests against
 * clang objects.
 */
import { classify, type Instruction } from '../../src/asm/instruction.js';

export interface ObjdumpLine {
  slot: number;
  text: string;
  /** `<...>` after a jump, without the brackets. */
  annotation?: string;
}

/** Instruction lines of `llvm-objdump -d`: `  12:\t<bytes>\t<text>`, whitespace normalised. */
export function objdumpLines(text: string): ObjdumpLine[] {
  const out: ObjdumpLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+):\t[0-9a-f ]+\t(.*)$/.exec(line);
    if (!m) continue;
    const body = m[2]!.replace(/\s+/g, ' ').trim();
    const annotated = /^(.*) <([^\s<>]+)>$/.exec(body);
    out.push(annotated ? { slot: Number(m[1]), text: annotated[1]!, annotation: annotated[2]! } : { slot: Number(m[1]), text: body });
  }
  return out;
}

/** Instruction lines of formatLlvm: `  12:\t<text>`. */
export function ourLines(text: string): ObjdumpLine[] {
  const out: ObjdumpLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+):\t(.*)$/.exec(line);
    if (!m) continue;
    const body = m[2]!.replace(/\s+/g, ' ').trim();
    const annotated = /^(.*) <([^\s<>]+)>$/.exec(body);
    out.push(annotated ? { slot: Number(m[1]), text: annotated[1]!, annotation: annotated[2]! } : { slot: Number(m[1]), text: body });
  }
  return out;
}

/**
 * Where our text deliberately differs from llvm-objdump's, and why. Each
 * entry maps LLVM's text of one instruction to ours.
 */
export const DELIBERATE_DIFFERENCES: {
  reason: string;
  applies: (insn: Instruction) => boolean;
  llvm: RegExp;
  ours: (m: RegExpExecArray) => string;
}[] = [
  {
    reason: 'LLVM prints a local call (src 1) like a helper call; `call pc+N` keeps the two apart so the dump assembles back',
    applies: (insn) => {
      const form = classify(insn);
      return form.kind === 'call' && form.target === 'LOCAL';
    },
    llvm: /^call (-?0x[0-9a-f]+)$/,
    ours: (m) => `call pc${m[1]!.startsWith('-') ? m[1] : `+${m[1]}`}`,
  },
  {
    reason: 'LLVM prints ld_imm64 with a pseudo source as `ld_pseudo dst, src, imm` (no second-slot imm); we name the source and keep both imms',
    applies: (insn) => {
      const form = classify(insn);
      return form.kind === 'ld_imm64' && form.pseudo !== 'IMM';
    },
    llvm: /^ld_pseudo r(\d+), (0x[0-9a-f]+), (0x[0-9a-f]+)$/,
    ours: (m) => {
      const names = ['', 'map_fd', 'map_value', 'btf_id', 'func', 'map_idx', 'map_idx_value'];
      const src = Number(m[2]);
      const imm = Number(BigInt.asIntN(32, BigInt(m[3]!)));
      const immText = imm < 0 ? `-0x${(-imm).toString(16)}` : `0x${imm.toString(16)}`;
      return `r${m[1]} = ${names[src]}(${immText}${src === 2 || src === 6 ? ', 0x0' : ''}) ll`;
    },
  },
];

export function expectedText(llvm: ObjdumpLine, insn: Instruction): string {
  for (const difference of DELIBERATE_DIFFERENCES) {
    const m = difference.llvm.exec(llvm.text);
    if (m && difference.applies(insn)) return difference.ours(m);
  }
  return llvm.text;
}
