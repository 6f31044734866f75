/**
 * (3) Size of each program, bpfgen's against clang's: instructions as
 * built, instructions after the kernel's verifier and rewrites (xlated, as
 * `bpftool prog dump xlated` counts them: 8-byte slots), and bytes of JIT
 * machine code.
 */
import { SLOT_BYTES } from '../src/asm/instruction.js';
import type { AssembledProgram } from '../src/asm/program.js';
import type { Program } from '../src/loader/index.js';
import type { LoadedPair } from './pair.js';
import { formatTable, times } from './table.js';

export interface ProgramSize {
  readonly insns: number;
  readonly slots: number;
  readonly xlatedInsns: number;
  readonly jitedBytes: number;
}

export interface SizeRow {
  readonly program: string;
  readonly bpfgen: ProgramSize;
  readonly clang: ProgramSize;
  /** bpfgen's xlated instructions over clang's. */
  readonly xlatedRatio: number;
}

function sizeOf(built: AssembledProgram, loaded: Program): ProgramSize {
  const info = loaded.info();
  return { insns: built.insns.length, slots: built.bytes.length / SLOT_BYTES, xlatedInsns: info.xlatedLength / SLOT_BYTES, jitedBytes: info.jitedLength };
}

export function measureSize(pairs: readonly LoadedPair[]): SizeRow[] {
  return pairs.map((pair) => {
    const bpfgen = sizeOf(pair.ours, pair.loadedOurs);
    const clang = sizeOf(pair.theirs, pair.loadedTheirs);
    return { program: pair.reference.name, bpfgen, clang, xlatedRatio: bpfgen.xlatedInsns / clang.xlatedInsns };
  });
}

export function sizeTable(rows: readonly SizeRow[]): string {
  return formatTable(
    ['program', 'insns bpfgen', 'clang', 'xlated bpfgen', 'clang', 'ratio', 'jited bytes bpfgen', 'clang', 'ratio'],
    rows.map((row) => [
      row.program,
      String(row.bpfgen.insns),
      String(row.clang.insns),
      String(row.bpfgen.xlatedInsns),
      String(row.clang.xlatedInsns),
      times(row.xlatedRatio),
      String(row.bpfgen.jitedBytes),
      String(row.clang.jitedBytes),
      times(row.bpfgen.jitedBytes / row.clang.jitedBytes),
    ]),
  );
}
