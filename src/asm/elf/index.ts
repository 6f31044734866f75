/** eBPF ELF objects: writing programs as objects libbpf and iproute2 load, and reading clang's. */
export { writeObject, type WriteObjectOptions } from './writer.js';
export { readObject, readObjectSections, type BpfObject, type CodeSection, type ObjectSections, type ReadObjectOptions } from './reader.js';
export { ElfError } from './errors.js';
export { programTypeOfSection, SECTION_BY_TYPE } from './sections.js';
export { sourceFromDisk, type SourceText } from './line-info.js';
