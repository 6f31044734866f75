/** The text front door: assemble ubpf mnemonics or LLVM pseudo-C, telling them apart when asked to. */
import type { Listing } from '../disasm/listing.js';
import { AsmSyntaxError } from '../errors.js';
import type { TextProgram } from './common.js';
import { parsePseudoC } from './pseudo-c.js';
import { parseUbpf } from './ubpf.js';
import { UBPF_MNEMONICS } from './ubpf-mnemonics.js';

export type { TextProgram } from './common.js';
export { parsePseudoC } from './pseudo-c.js';
export { parseUbpf } from './ubpf.js';

export type TextSyntax = 'ubpf' | 'llvm';

export interface AssembleTextOptions {
  /** Name used in error messages and source locations. */
  readonly file: string;
  /** `auto` (the default) picks the syntax from the text itself. */
  readonly syntax?: 'auto' | TextSyntax;
}

/** Assemble a program; text that holds no instruction is an error, since no loader accepts an empty program. */
export function assembleText(text: string, options: AssembleTextOptions): TextProgram {
  const syntax = !options.syntax || options.syntax === 'auto' ? detectSyntax(text) : options.syntax;
  const program = syntax === 'ubpf' ? parseUbpf(text, options.file) : parsePseudoC(text, options.file);
  if (program.insns.length === 0) {
    throw new AsmSyntaxError({ file: options.file, line: 1 }, `no instructions: the ${syntax} text is empty or only comments and labels`);
  }
  return program;
}

/** The assembled text as a disassembler input, so that a dump names the labels the text defined. */
export function textListing(program: TextProgram): Listing {
  return {
    insns: program.insns,
    labels: [...program.labels].map(([name, insn]) => ({ name, insn })),
    sourceMap: program.sourceMap,
    ...(program.relocations && { relocations: program.relocations }),
  };
}

/** Words that begin a statement in both syntaxes (`call 5`, `exit`), so they decide nothing. */
const SHARED_WORDS = new Set(['call', 'exit']);

/**
 * Decide from the first telling line: ubpf writes registers as `%r1` and
 * starts every statement with a mnemonic (`lock add …`); pseudo-C writes
 * `r1`/`w1`, assignments, `if … goto`, `*(u32 *)…`, `lock *(…)` and
 * directives. Text where no line tells (only `call N` and `exit`) means
 * the same in both, and goes to the ubpf parser.
 */
export function detectSyntax(text: string): TextSyntax {
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/(;|#|\/\/).*/, '').trim();
    // Label and function-header lines look alike in both syntaxes.
    if (line === '' || /^[\w.$<>]+:$/.test(line)) continue;
    if (/%r\d/.test(line)) return 'ubpf';
    if (/(^|[^%\w])[rw]\d+\b/.test(line)) return 'llvm';
    const word = /^\S+/.exec(line.replace(/^[\w.$]+:\s*/, ''))![0];
    if (SHARED_WORDS.has(word)) continue;
    if (word === 'lock') return /^lock\s+\*/.test(line) ? 'llvm' : 'ubpf';
    return UBPF_MNEMONICS.has(word) ? 'ubpf' : 'llvm';
  }
  return 'ubpf';
}
