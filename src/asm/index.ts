/** The pure assembler: runs anywhere, no syscalls. */
export * from './opcodes.js';
export { classify, decode, encode, imm64Of, splitImm64, slotCount, isWide, EncodingError, type Instruction, type Form } from './instruction.js';
export * from './alu.js';
export * from './jump.js';
export * from './func.js';
export * from './load_store.js';
export type { Operand } from './operand.js';
export * from './program.js';
export { AsmSyntaxError, DslError, formatLocation } from './errors.js';
export * from './dsl/index.js';
export { be16, be32, ipv4, parseIpv4 } from './byteorder.js';
export * as packet from './packet.js';
export * as socketFilter from './socket-filter.js';
export { HELPERS, helperById, helperByName, type Helper, type HelperName } from './helpers.js';
export * from './disasm/index.js';
export { assembleText, detectSyntax, parsePseudoC, parseUbpf, textListing, type TextProgram, type TextSyntax } from './text/index.js';
export { parseWords } from './text/words.js';
