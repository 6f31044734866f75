import { encode } from '../../asm/instruction.js';
import { disassemble } from '../../asm/disasm/index.js';
import { assembleText } from '../../asm/text/index.js';
import { choiceFlag, parseCommandLine } from '../args.js';
import { readInput, writeOutput } from '../io.js';
import { UsageError, type Command } from '../usage.js';

const FORMATS = ['words', 'hex', 'bin'] as const;
const SYNTAXES = ['auto', 'ubpf', 'llvm'] as const;

export const asmCommand: Command = {
  name: 'asm',
  summary: 'assemble eBPF text (ubpf mnemonics or LLVM pseudo-C) into bytecode',
  help: `Usage: bpfgen asm FILE [--format words|hex|bin] [--syntax auto|ubpf|llvm] [-o OUT]

Assembles FILE (- for stdin). Both syntaxes are accepted:
  ubpf mnemonics, as in the bpf_conformance suite:   mov %r0, 1
  LLVM pseudo-C, as printed by bpfgen dump:          r0 = 0x1

Options:
  --format F   words: one 64-bit little-endian word per line (0x%016x, default)
               hex:   each instruction's bytes in hex, one per line
               bin:   raw bytes (needs -o or a redirected stdout)
  --syntax S   force a syntax instead of detecting it (default auto)
  -o OUT       write to OUT instead of stdout

Examples:
  bpfgen asm prog.s
  bpfgen dump xdp-dns-forward > fwd.s && bpfgen asm fwd.s --format bin -o fwd.bin
  echo 'mov %r0, 2
  exit' | bpfgen asm -`,
  async run(argv) {
    const { values, positionals } = parseCommandLine('asm', argv, {
      format: { type: 'string' },
      syntax: { type: 'string' },
      output: { type: 'string', short: 'o' },
    });
    if (positionals.length !== 1) throw new UsageError('asm: expected exactly one FILE (or - for stdin); see bpfgen asm --help');
    const file = positionals[0]!;
    const format = choiceFlag('--format', values.format, FORMATS, 'words');
    const syntax = choiceFlag('--syntax', values.syntax, SYNTAXES, 'auto');
    const text = readInput(file).toString('utf8');
    const program = assembleText(text, { file: file === '-' ? '<stdin>' : file, syntax });
    if (format === 'bin') {
      if (values.output === undefined && process.stdout.isTTY) throw new UsageError('--format bin: refusing to write binary to a terminal; use -o OUT');
      writeOutput(values.output, encode(program.insns));
    } else {
      writeOutput(values.output, disassemble({ insns: program.insns }, format));
    }
    return 0;
  },
};
