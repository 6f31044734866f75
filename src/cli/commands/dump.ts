import { EncodingError, SLOT_BYTES, decode } from '../../asm/instruction.js';
import { DISASM_FORMATS, disassemble, formatBpftool } from '../../asm/disasm/index.js';
import type { Listing } from '../../asm/disasm/listing.js';
import type { AssembledProgram } from '../../asm/program.js';
import { assembleText } from '../../asm/text/index.js';
import { parseWords } from '../../asm/text/words.js';
import type { Program } from '../../loader/index.js';
import type { helperCallNamer as kallsymsNamer } from '../kallsyms.js';
import { PROGRAMS, programNamed } from '../../programs/index.js';
import { choiceFlag, parseCommandLine } from '../args.js';
import { readInput } from '../io.js';
import { findProgram, programFlags, programOptionHelp, programOptionValues } from '../program-args.js';
import { UsageError, type Command } from '../usage.js';

const programHelp = Object.values(PROGRAMS)
  .map((p) => `  ${p.name}\n${programOptionHelp(p)}`)
  .join('\n');

export const dumpCommand: Command = {
  name: 'dump',
  summary: 'print the bytecode of a built-in program or of a bytecode/assembly file',
  help: `Usage: bpfgen dump PROGRAM [program options] [--format F] [--source]
       bpfgen dump PROGRAM [program options] --xlated [--source]
       bpfgen dump --words FILE | --bin FILE | --asm FILE [--format F]
       bpfgen dump --object FILE.o [--section NAME] [--format F] [--source]

Builds PROGRAM for the given options and prints its instructions, or reads
bytecode (--words: one 0x%016x word per line as in bpf_conformance's -- raw;
--bin: raw little-endian bytes) or assembler text (--asm) and prints it.
--object prints the code sections of an ELF object (clang's or bpfgen build's)
with relocations as llvm-objdump -dr shows them; --source adds the line info.
FILE may be - for stdin.

Options:
  --format F   llvm (default: llvm-objdump -d syntax, reassemblable with bpfgen asm),
               bpftool, ubpf, json, hex, words
  --source     show the DSL call site (file:line) of every instruction
  --section N  with --object, only the code section N (e.g. xdp, .text)
  --xlated     load PROGRAM into the kernel and print, after bpfgen's instructions,
               the kernel's translation of them as \`bpftool prog dump xlated\` does,
               with the program's id, tag, instruction counts and JIT size
               (needs root; the program is unloaded when bpfgen exits)

Programs:
${programHelp}

Examples:
  bpfgen dump xdp-dns-forward
  bpfgen dump xdp-dns-forward --dns-ip 100.64.0.53 --listen-port 5054 --source
  bpfgen dump xdp-dns-forward --format words | bpfgen dump --words -
  bpfgen dump xdp-dns-forward --xlated
  bpfgen dump --object prog.o --section xdp`,
  async run(argv) {
    // Program flags are only known once the program is named, so parse twice.
    const common = {
      format: { type: 'string' },
      source: { type: 'boolean' },
      words: { type: 'string' },
      bin: { type: 'string' },
      asm: { type: 'string' },
      object: { type: 'string' },
      section: { type: 'string' },
      xlated: { type: 'boolean' },
    } as const;
    const entry = argv.map(programNamed).find((e) => e !== undefined);
    const { values, positionals } = parseCommandLine('dump', argv, { ...common, ...(entry ? programFlags(entry) : {}) });
    const format = choiceFlag('--format', values.format as string | undefined, DISASM_FORMATS, 'llvm');
    const options = { source: values.source === true };
    const inputs = (['words', 'bin', 'asm', 'object'] as const).filter((k) => values[k] !== undefined);
    if (inputs.length > 1) throw new UsageError(`dump: give only one of --words, --bin, --asm, --object`);
    if (values.section !== undefined && inputs[0] !== 'object') throw new UsageError('--section: selects a section of an --object FILE');
    const xlated = values.xlated === true;
    if (xlated && inputs.length > 0) throw new UsageError(`--xlated: needs a built-in PROGRAM to load, not --${inputs[0]} (its program type is unknown)`);
    if (xlated && format !== 'bpftool' && values.format !== undefined) {
      throw new UsageError(`--xlated: prints the bpftool format only (kernel-rewritten code has no other), not --format ${format}`);
    }

    if (inputs.length === 1) {
      if (positionals.length > 0) throw new UsageError(`dump: unexpected argument '${positionals[0]}' with --${inputs[0]}`);
      const path = values[inputs[0]!] as string;
      if (inputs[0] === 'object') {
        // The ELF reader, like the loader below, is imported only by the dumps that use it: a plain dump starts faster.
        const { dumpObject } = await import('./dump-object.js');
        process.stdout.write(dumpObject(path, values.section as string | undefined, format, options));
        return 0;
      }
      const name = path === '-' ? '<stdin>' : path;
      const raw = readInput(path);
      let listing: Listing;
      if (inputs[0] === 'asm') {
        const text = assembleText(raw.toString('utf8'), { file: name });
        listing = { insns: text.insns, sourceMap: text.sourceMap };
      } else {
        const bytes = inputs[0] === 'words' ? parseWords(raw.toString('utf8'), name) : new Uint8Array(raw);
        listing = { insns: decodeNamed(bytes, name) };
      }
      process.stdout.write(disassemble(listing, format, options));
      return 0;
    }

    if (positionals.length !== 1) throw new UsageError('dump: expected one PROGRAM, or --words/--bin/--asm FILE (see bpfgen dump --help)');
    const chosen = findProgram('dump', positionals[0]);
    const program = chosen.build(programOptionValues(chosen, values));
    if (xlated) {
      const [{ withLoadedProgram }, { helperCallNamer }] = await Promise.all([import('../load.js'), import('../kallsyms.js')]);
      return withLoadedProgram('dump', program, (loaded) => printXlated(program, loaded, options, helperCallNamer));
    }
    if (format === 'llvm' || format === 'bpftool' || format === 'ubpf') process.stdout.write(summary(program, format));
    process.stdout.write(disassemble(program, format, options));
    return 0;
  },
};

function decodeNamed(bytes: Uint8Array, file: string) {
  try {
    return decode(bytes);
  } catch (error) {
    if (error instanceof EncodingError) throw new UsageError(`${file}: ${error.message}`);
    throw error;
  }
}

/** A header line in the comment syntax of the chosen format, so the dump stays reassemblable. */
function summary(program: AssembledProgram, format: 'llvm' | 'bpftool' | 'ubpf'): string {
  const comment = format === 'ubpf' ? '#' : ';';
  const slots = program.bytes.length / SLOT_BYTES;
  return `${comment} ${program.name}: ${program.type} program, ${program.insns.length} instructions (${slots} slots), license ${program.license}\n`;
}

/** Ours, then the kernel's: each under a header naming it and counting its instructions. */
/** kallsyms.ts's helperCallNamer, passed in because that module is imported only for --xlated. */
type HelperCallNamer = typeof kallsymsNamer;

function printXlated(program: AssembledProgram, loaded: Program, options: { source: boolean }, helperCallNamer: HelperCallNamer): number {
  const info = loaded.info();
  const kernel = loaded.xlated();
  const kernelSlots = info.xlatedLength / SLOT_BYTES;
  const callName = helperCallNamer(kernel);
  const jit = info.jitedLength > 0 ? `jited ${info.jitedLength} bytes` : 'not jited (interpreted)';
  process.stdout.write(
    [
      `; ${program.name}: ${program.type} program loaded as id ${info.id}, tag ${info.tag}, ${jit}`,
      `; bpfgen: ${program.insns.length} instructions (${program.bytes.length / SLOT_BYTES} slots), as built, before the loader fills in map references`,
      formatBpftool(program, options).trimEnd(),
      `; kernel: ${kernel.length} instructions (${kernelSlots} slots), as \`bpftool prog dump xlated id ${info.id}\` prints them`,
      formatBpftool({ insns: kernel }, callName ? { callName } : {}),
    ].join('\n'),
  );
  return 0;
}
