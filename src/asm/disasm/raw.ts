/**
 * Machine-oriented dumps: `json` (fields and text per instruction), `hex`
 * (bytes per instruction) and `words` (one 64-bit little-endian word per
 * slot, the conformance suite's `-- raw` format).
 */
import { encode, isWide, SLOT_BYTES, type Instruction } from '../instruction.js';
import { slotOffsets, type SourceLocation } from '../program.js';
import { formatLlvmInstruction } from './llvm.js';
import type { Listing } from './listing.js';

export interface JsonInstruction {
  readonly slot: number;
  readonly code: number;
  readonly dst: number;
  readonly src: number;
  readonly off: number;
  readonly imm: number;
  /** The second slot's imm; only for ld_imm64. */
  readonly imm2?: number;
  /** The instruction in LLVM syntax. */
  readonly text: string;
  readonly source?: SourceLocation;
}

/** One object per instruction; `source` is present when the listing knows it. */
export function toJsonInstructions(listing: Listing): JsonInstruction[] {
  const slots = slotOffsets(listing.insns);
  return listing.insns.map((insn, index) => {
    const { code, dst, src, off, imm } = insn;
    const source = listing.sourceMap?.[index];
    return {
      slot: slots[index]!,
      code,
      dst,
      src,
      off,
      imm,
      ...(isWide(insn) ? { imm2: insn.imm2 ?? 0 } : {}),
      text: formatLlvmInstruction(insn),
      ...(source ? { source } : {}),
    };
  });
}

export function formatJson(listing: Listing): string {
  return `${JSON.stringify(toJsonInstructions(listing), null, 2)}\n`;
}

const hexBytes = (bytes: Uint8Array): string => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');

/** Each instruction's bytes, space-separated as llvm-objdump shows them: 8 per line, 16 for ld_imm64. */
export function formatHex(listing: Listing): string {
  return listing.insns.map((insn: Instruction) => `${hexBytes(encode([insn]))}\n`).join('');
}

/** One `0x%016x` little-endian word per 8-byte slot. */
export function formatWords(listing: Listing): string {
  const bytes = encode(listing.insns);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lines: string[] = [];
  for (let at = 0; at < bytes.length; at += SLOT_BYTES) {
    lines.push(`0x${view.getBigUint64(at, true).toString(16).padStart(16, '0')}\n`);
  }
  return lines.join('');
}
