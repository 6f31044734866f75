/**
 * Printer for the ubpf / bpf_conformance mnemonic syntax. Its output is read
 * back by parseUbpf (text/ubpf.ts) into the same instructions: jump and
 * local-call targets become label names where the listing names them, and
 * signed slot offsets (`ja +3`) elsewhere.
 */
import { formatLocation } from '../errors.js';
import { classify, imm64Of, slotCount, type Form, type Instruction } from '../instruction.js';
import { indexBySlot, slotOffsets } from '../program.js';
import { formatMemory, formatRegister, formatRelative, ubpfMnemonic } from '../text/ubpf-mnemonics.js';
import type { FormatOptions, Listing } from './listing.js';

export function formatUbpf(listing: Listing, options: FormatOptions = {}): string {
  const { insns } = listing;
  const labelsAt = labelNames(listing);
  const slots = slotOffsets(insns);
  // A target may be the end of the program, where only a label can stand.
  const indexOfSlot = [...indexBySlot(insns), insns.length];
  /** Name of the label `relative` slots after instruction `index`, if the listing has one there. */
  const labelFor = (index: number, relative: number): string | undefined => {
    const target = indexOfSlot[slots[index]! + slotCount(insns[index]!) + relative];
    return target === undefined || target < 0 ? undefined : labelsAt.get(target)?.[0];
  };
  const comments = new Map<number, string[]>();
  for (const r of listing.relocations ?? []) {
    comments.set(r.insn, [...(comments.get(r.insn) ?? []), `${r.kind} ${r.symbol}${r.addend ? `+${r.addend}` : ''}`]);
  }

  const lines: string[] = [];
  insns.forEach((insn, index) => {
    for (const name of labelsAt.get(index) ?? []) lines.push(`${name}:`);
    const notes = [...(comments.get(index) ?? [])];
    // Only read when asked for: a program built without call sites builds again to record them on first read.
    const at = options.source ? listing.sourceMap?.[index] : undefined;
    if (at) notes.push(formatLocation(at));
    const text = formatInstruction(insn, classify(insn, slots[index]), (relative) => labelFor(index, relative));
    lines.push(notes.length > 0 ? `${text}  # ${notes.join('; ')}` : text);
  });
  for (const name of labelsAt.get(insns.length) ?? []) lines.push(`${name}:`);
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** Label and function names by instruction index, in the listing's order. */
function labelNames(listing: Listing): Map<number, string[]> {
  const out = new Map<number, string[]>();
  const add = (insn: number, name: string): void => {
    const names = out.get(insn) ?? [];
    if (!names.includes(name)) out.set(insn, [...names, name]);
  };
  for (const f of listing.functions ?? []) add(f.insn, f.name);
  for (const l of listing.labels ?? []) add(l.insn, l.name);
  return out;
}

function formatInstruction(insn: Instruction, form: Form, labelFor: (relative: number) => string | undefined): string {
  const mnemonic = ubpfMnemonic(form);
  const target = (relative: number): string => labelFor(relative) ?? formatRelative(relative);
  const dst = formatRegister(insn.dst);
  const src = formatRegister(insn.src);
  switch (form.kind) {
    case 'alu':
      return `${mnemonic} ${dst}, ${form.source === 'X' ? src : insn.imm}`;
    case 'movsx':
      return `${mnemonic} ${dst}, ${src}`;
    case 'neg':
    case 'end':
      return `${mnemonic} ${dst}`;
    case 'jcond':
      return `${mnemonic} ${dst}, ${form.source === 'X' ? src : insn.imm}, ${target(insn.off)}`;
    case 'ja':
      return `${mnemonic} ${target(insn.off)}`;
    case 'gotol':
      return `${mnemonic} ${target(insn.imm)}`;
    case 'callx':
      return `${mnemonic} ${dst}`;
    case 'exit':
      return mnemonic;
    case 'call':
      if (form.target === 'LOCAL') return `${mnemonic} ${form.target.toLowerCase()} ${target(insn.imm)}`;
      if (form.target === 'KFUNC') return `${mnemonic} ${form.target.toLowerCase()} ${insn.imm}${insn.off !== 0 ? `, ${insn.off}` : ''}`;
      return `${mnemonic} ${insn.imm}`;
    case 'ld_imm64':
      if (form.pseudo === 'IMM') return `${mnemonic} ${dst}, 0x${BigInt.asUintN(64, imm64Of(insn)).toString(16)}`;
      return `${mnemonic} ${dst}, ${form.pseudo.toLowerCase()} ${insn.imm}${insn.imm2 ? `, ${insn.imm2}` : ''}`;
    case 'ld_abs':
      return `${mnemonic} ${insn.imm}`;
    case 'ld_ind':
      return `${mnemonic} ${src}, ${insn.imm}`;
    case 'ldx':
      return `${mnemonic} ${dst}, ${formatMemory(insn.src, insn.off)}`;
    case 'st':
      return `${mnemonic} ${formatMemory(insn.dst, insn.off)}, ${insn.imm}`;
    case 'stx':
    case 'atomic':
      return `${mnemonic} ${formatMemory(insn.dst, insn.off)}, ${src}`;
  }
}
