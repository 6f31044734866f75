/**
 * (6) Assembler throughput on a generated program of 1,000,000
 * instructions, every instruction form bpfgen supports in turn
 * (test/support/forms.ts): encode to bytes, decode the bytes back (with
 * RFC 9669 validation, as `decode` does by default), and disassemble to
 * LLVM text (`bpfgen dump`'s default format). Instructions per second, the
 * median over interleaved rounds.
 */
import { disassemble } from '../src/asm/disasm/index.js';
import { decode, encode, type Instruction } from '../src/asm/instruction.js';
import { everyForm } from '../test/support/forms.js';
import { elapsedNs, interleave, summarize, type Summary } from './stats.js';
import { formatTable } from './table.js';

export const PROGRAM_INSNS = 1_000_000;

export type AssemblerStep = 'encode' | 'decode' | 'disassemble';

export interface AssemblerResult {
  readonly insns: number;
  readonly rounds: number;
  /** Instructions per second. */
  readonly throughput: Record<AssemblerStep, Summary>;
}

function generatedProgram(): Instruction[] {
  const forms = everyForm().map(([, insn]) => insn);
  return Array.from({ length: PROGRAM_INSNS }, (_, i) => forms[i % forms.length]!);
}

export function measureAssembler(rounds: number): AssemblerResult {
  const insns = generatedProgram();
  const bytes = encode(insns);
  const samples: Record<AssemblerStep, number[]> = { encode: [], decode: [], disassemble: [] };
  const perSecond = (start: bigint) => (PROGRAM_INSNS * 1e9) / elapsedNs(start);
  const steps = [
    () => {
      const start = process.hrtime.bigint();
      encode(insns);
      samples.encode.push(perSecond(start));
    },
    () => {
      const start = process.hrtime.bigint();
      decode(bytes);
      samples.decode.push(perSecond(start));
    },
    () => {
      const start = process.hrtime.bigint();
      disassemble({ insns }, 'llvm');
      samples.disassemble.push(perSecond(start));
    },
  ];
  interleave(1, steps); // warm-up: optimised code for all three
  for (const list of Object.values(samples)) list.length = 0;
  interleave(rounds, steps);
  return {
    insns: PROGRAM_INSNS,
    rounds,
    throughput: { encode: summarize(samples.encode), decode: summarize(samples.decode), disassemble: summarize(samples.disassemble) },
  };
}

const millions = (perSecond: number): string => `${(perSecond / 1e6).toFixed(1)} M insns/s`;

export function assemblerTable(result: AssemblerResult): string {
  return formatTable(
    ['step', 'throughput', 'p10', 'p90'],
    (['encode', 'decode', 'disassemble'] as const).map((step) => {
      const s = result.throughput[step];
      return [step, millions(s.median), millions(s.p10), millions(s.p90)];
    }),
  );
}
