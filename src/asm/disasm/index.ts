/** Every disassembly format behind one call, as `bpfgen dump --format` offers them. */
import { formatBpftool } from './bpftool.js';
import type { DisasmFormat, FormatOptions, Listing } from './listing.js';
import { formatLlvm } from './llvm.js';
import { formatHex, formatJson, formatWords } from './raw.js';
import { formatUbpf } from './ubpf.js';

export type { DisasmFormat, FormatOptions, Listing } from './listing.js';
export { formatLlvm, formatLlvmInstruction } from './llvm.js';
export { formatBpftool, formatBpftoolInstruction, type BpftoolFormatOptions } from './bpftool.js';
export { formatHex, formatJson, formatWords, toJsonInstructions, type JsonInstruction } from './raw.js';
export { formatUbpf } from './ubpf.js';

export const DISASM_FORMATS: readonly DisasmFormat[] = ['llvm', 'bpftool', 'ubpf', 'json', 'hex', 'words'];

export function disassemble(listing: Listing, format: DisasmFormat = 'llvm', options: FormatOptions = {}): string {
  switch (format) {
    case 'llvm':
      return formatLlvm(listing, options);
    case 'bpftool':
      return formatBpftool(listing, options);
    case 'ubpf':
      return formatUbpf(listing, options);
    case 'json':
      return formatJson(listing);
    case 'hex':
      return formatHex(listing);
    case 'words':
      return formatWords(listing);
  }
}
