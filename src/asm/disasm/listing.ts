import type { Instruction } from '../instruction.js';
import type { FunctionSymbol, LabelSymbol, Relocation, SourceLocation } from '../program.js';

/** What a disassembler prints: instructions plus whatever symbolic information is known. An AssembledProgram is one. */
export interface Listing {
  readonly insns: readonly Instruction[];
  readonly relocations?: readonly Relocation[];
  readonly labels?: readonly LabelSymbol[];
  readonly functions?: readonly FunctionSymbol[];
  readonly sourceMap?: readonly (SourceLocation | undefined)[];
}

export type DisasmFormat = 'llvm' | 'bpftool' | 'ubpf' | 'json' | 'hex' | 'words';

export interface FormatOptions {
  /** Show each instruction's source location (`--source`). */
  readonly source?: boolean;
}
