/**
 * `bpfgen dump --object FILE.o [--section NAME]`: the code sections of an
 * ELF object as they are in the file, one after another under
 * llvm-objdump's `Disassembly of section NAME:` headers, with relocation
 * lines as `llvm-objdump -dr` prints them.
 */
import { disassemble, type DisasmFormat, type FormatOptions } from '../../asm/disasm/index.js';
import { ElfError } from '../../asm/elf/errors.js';
import { readObjectSections, type ObjectSections } from '../../asm/elf/reader.js';
import type { MapDefinition } from '../../asm/program.js';
import { readInput } from '../io.js';
import { UsageError } from '../usage.js';

/** Formats that print one listing only (no room for section headers). */
const SINGLE_LISTING: readonly DisasmFormat[] = ['json', 'hex', 'words'];

export function dumpObject(path: string, section: string | undefined, format: DisasmFormat, options: FormatOptions): string {
  const name = path === '-' ? '<stdin>' : path;
  let object: ObjectSections;
  try {
    object = readObjectSections(new Uint8Array(readInput(path)), { file: name });
  } catch (error) {
    if (error instanceof ElfError) throw new UsageError(error.message);
    throw error;
  }
  const available = object.sections.map((s) => s.name);
  const chosen = section === undefined ? object.sections : object.sections.filter((s) => s.name === section);
  if (chosen.length === 0) {
    throw new UsageError(section === undefined ? `${name}: the object has no code sections` : `--section: ${name} has no code section '${section}' (it has: ${available.join(', ')})`);
  }
  if (SINGLE_LISTING.includes(format)) {
    if (chosen.length > 1) throw new UsageError(`--format ${format}: prints one section; choose one of ${available.join(', ')} with --section`);
    return disassemble(chosen[0]!, format, options);
  }
  const comment = format === 'ubpf' ? '#' : ';';
  const header = `${comment} ${name}: license ${object.license || '(none)'}, ${object.maps.length === 0 ? 'no maps' : `maps ${object.maps.map(describeMap).join(', ')}`}\n`;
  const bodies = chosen.map((s) => {
    const title = format === 'llvm' ? `Disassembly of section ${s.name}:` : `${comment} section ${s.name}`;
    return `\n${title}\n\n${disassemble(s, format, options)}`;
  });
  return header + bodies.join('');
}

function describeMap(map: MapDefinition): string {
  return `${map.name} (${map.type}, key ${map.keySize}, value ${map.valueSize}, ${map.maxEntries} entries${map.flags ? `, flags 0x${map.flags.toString(16)}` : ''})`;
}
