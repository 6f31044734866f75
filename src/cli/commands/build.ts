import { SLOT_BYTES } from '../../asm/instruction.js';
import { ElfError } from '../../asm/elf/errors.js';
import { SECTION_BY_TYPE } from '../../asm/elf/sections.js';
import { writeObject } from '../../asm/elf/writer.js';
import { PROGRAMS, programNamed } from '../../programs/index.js';
import { parseCommandLine } from '../args.js';
import { writeOutput } from '../io.js';
import { findProgram, programFlags, programOptionHelp, programOptionValues } from '../program-args.js';
import { UsageError, type Command } from '../usage.js';

const programHelp = Object.values(PROGRAMS)
  .map((p) => `  ${p.name}\n${programOptionHelp(p)}`)
  .join('\n');

export const buildCommand: Command = {
  name: 'build',
  summary: 'build a program into an ELF object for bpftool, ip, tc and libbpf',
  help: `Usage: bpfgen build PROGRAM [program options] -o FILE.o

Builds PROGRAM for the given options and writes it as an eBPF ELF object,
as clang -target bpf would: the program in section xdp, tc or socket (by its
type), its maps as BTF-defined maps in .maps, a license section, and BTF
with line info that points at the TypeScript lines that emitted each
instruction (bpftool prog dump xlated shows them).

Options:
  -o, --output FILE   the object to write (- for stdout)

Programs:
${programHelp}

Examples:
  bpfgen build xdp-dns-forward -o fwd.o
  bpfgen build xdp-dns-forward --dns-ip 100.64.0.53 -o fwd.o
  bpftool prog load fwd.o /sys/fs/bpf/fwd
  ip link set dev lo xdpgeneric obj fwd.o sec xdp`,
  async run(argv) {
    const common = { output: { type: 'string', short: 'o' } } as const;
    const entry = argv.map(programNamed).find((e) => e !== undefined);
    const { values, positionals } = parseCommandLine('build', argv, { ...common, ...(entry ? programFlags(entry) : {}) });
    if (positionals.length !== 1) throw new UsageError('build: expected one PROGRAM (see bpfgen build --help)');
    const output = values.output as string | undefined;
    if (output === undefined) throw new UsageError('build: give the object to write with -o FILE.o');
    const chosen = findProgram('build', positionals[0]);
    const program = chosen.build(programOptionValues(chosen, values));
    let object: Uint8Array;
    try {
      object = writeObject([program]);
    } catch (error) {
      if (error instanceof ElfError) throw new UsageError(`build: ${chosen.name}: ${error.message}`);
      throw error;
    }
    writeOutput(output, object);
    if (output !== '-') {
      const slots = program.bytes.byteLength / SLOT_BYTES;
      const maps = program.maps.length > 0 ? `, maps ${program.maps.map((m) => m.name).join(', ')}` : '';
      process.stdout.write(`${output}: ${program.type} program ${program.name} in section ${SECTION_BY_TYPE[program.type]}, ${program.insns.length} instructions (${slots} slots)${maps}, ${object.byteLength} bytes\n`);
    }
    return 0;
  },
};
