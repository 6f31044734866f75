/**
 * The disassembly text of `llvm-objdump -d --mcpu=v4` (LLVM's BPF pseudo-C
 * syntax), extended where LLVM's text loses information so that every dump
 * can be assembled again by parsePseudoC:
 * - local calls print `call pc+0x16` (LLVM prints them like helper calls);
 * - kfunc calls print `call kfunc 0x1234` (`call kfunc 0x1234, 0x1` with a module BTF);
 * - ld_imm64 with a pseudo source prints `r1 = map_fd(0x3) ll`,
 *   `r1 = map_value(0x3, 0x10) ll`, ... (LLVM prints `ld_pseudo r1, 0x2, 0x3`
 *   and drops the second slot's imm);
 * - ld_ind with a nonzero imm prints `skb[r1 + 0x8]` (LLVM drops the imm);
 * - jump targets are annotated `<label>` only when the listing names the target.
 */
import { classify, EncodingError, imm64Of, SLOT_BYTES, type Form, type Instruction } from '../instruction.js';
import { AluOp, AtomicOp, JmpOp, Size, type PseudoSrcName, type SizeName } from '../opcodes.js';
import { formatLocation } from '../errors.js';
import { slotOffsets, indexBySlot, type Relocation, type RelocationKind } from '../program.js';
import type { FormatOptions, Listing } from './listing.js';

/** `0x1f`, `-0x1f`: how LLVM prints every number. */
function llvmHex(value: number | bigint): string {
  // Numbers (every field but a 64-bit immediate) without a BigInt: this runs for most instructions printed.
  return value < 0 ? `-0x${(-value).toString(16)}` : `0x${value.toString(16)}`;
}

/** A relative jump or call distance with an explicit sign: `+0x3`, `-0x1`. */
function signedHex(value: number): string {
  return value < 0 ? llvmHex(value) : `+${llvmHex(value)}`;
}

/** `(r10 - 0x8)` without the parentheses. */
function address(base: number, off: number): string {
  return off < 0 ? `r${base} - ${llvmHex(-off)}` : `r${base} + ${llvmHex(off)}`;
}

const bits = (size: SizeName): number => Size[size].bytes * 8;

/** Spelling of an ld_imm64 pseudo source: `map_fd`, `map_value`, ... */
export function pseudoName(pseudo: Exclude<PseudoSrcName, 'IMM'>): string {
  return pseudo.toLowerCase();
}

/** Pseudo sources whose second slot carries an offset; it is printed even when 0. */
function pseudoHasOffset(pseudo: PseudoSrcName): boolean {
  return pseudo.endsWith('_VALUE');
}

/** Spelling of the call source that selects a kernel function by BTF id. */
export const KFUNC_KEYWORD = 'kfunc';
/** Prefix of a local call's relative target, as the kernel prints it: `call pc+0x3`. */
export const LOCAL_CALL_PREFIX = 'pc';

function formText(insn: Instruction, form: Form | undefined): string {
  if (form === undefined) return '<unknown>';
  const { dst, src, off, imm } = insn;
  switch (form.kind) {
    case 'alu': {
      const reg = form.wide ? 'r' : 'w';
      const info = AluOp[form.op];
      const symbol = form.signed && 'signed' in info ? info.signed.symbol : info.symbol;
      const operand = form.source === 'X' ? `${reg}${src}` : llvmHex(imm);
      return `${reg}${dst} ${symbol}= ${operand}`;
    }
    case 'movsx': {
      const reg = form.wide ? 'r' : 'w';
      return `${reg}${dst} = (s${form.bits})${reg}${src}`;
    }
    case 'neg': {
      const reg = form.wide ? 'r' : 'w';
      return `${reg}${dst} = -${reg}${dst}`;
    }
    case 'end':
      return `r${dst} = ${form.order}${form.bits} r${dst}`;
    case 'jcond': {
      const reg = form.wide ? 'r' : 'w';
      const operand = form.source === 'X' ? `${reg}${src}` : llvmHex(imm);
      return `if ${reg}${dst} ${JmpOp[form.op].symbol} ${operand} goto ${signedHex(off)}`;
    }
    case 'ja':
      return `goto ${signedHex(off)}`;
    case 'gotol':
      return `gotol ${signedHex(imm)}`;
    case 'call':
      if (form.target === 'LOCAL') return `call ${LOCAL_CALL_PREFIX}${signedHex(imm)}`;
      if (form.target === 'KFUNC') return `call ${KFUNC_KEYWORD} ${llvmHex(imm)}${off !== 0 ? `, ${llvmHex(off)}` : ''}`;
      return `call ${llvmHex(imm)}`;
    case 'callx':
      return `callx r${dst}`;
    case 'exit':
      return 'exit';
    case 'ld_imm64': {
      if (form.pseudo === 'IMM') return `r${dst} = ${llvmHex(BigInt.asIntN(64, imm64Of(insn)))} ll`;
      const args = [llvmHex(imm)];
      if (pseudoHasOffset(form.pseudo) || insn.imm2 !== 0) args.push(llvmHex(insn.imm2 ?? 0));
      return `r${dst} = ${pseudoName(form.pseudo)}(${args.join(', ')}) ll`;
    }
    case 'ld_abs':
      return `r0 = *(u${bits(form.size)} *)skb[${llvmHex(imm)}]`;
    case 'ld_ind': {
      const index = imm === 0 ? `r${src}` : address(src, imm);
      return `r0 = *(u${bits(form.size)} *)skb[${index}]`;
    }
    case 'ldx': {
      if (form.signExtend) return `r${dst} = *(s${bits(form.size)} *)(${address(src, off)})`;
      const reg = form.size === 'DW' ? 'r' : 'w';
      return `${reg}${dst} = *(u${bits(form.size)} *)(${address(src, off)})`;
    }
    case 'st':
      return `*(u${bits(form.size)} *)(${address(dst, off)}) = ${llvmHex(imm)}`;
    case 'stx': {
      const reg = form.size === 'DW' ? 'r' : 'w';
      return `*(u${bits(form.size)} *)(${address(dst, off)}) = ${reg}${src}`;
    }
    case 'atomic': {
      const reg = form.size === 'DW' ? 'r' : 'w';
      const width = bits(form.size);
      const info = AtomicOp[form.op];
      if (form.op === 'XCHG') {
        return `${reg}${src} = ${info.mnemonic}${atomicSuffix(form.size)}(${address(dst, off)}, ${reg}${src})`;
      }
      if (form.op === 'CMPXCHG') {
        return `${reg}0 = ${info.mnemonic}${atomicSuffix(form.size)}(${address(dst, off)}, ${reg}0, ${reg}${src})`;
      }
      if (form.fetch) return `${reg}${src} = atomic_fetch_${info.mnemonic}((u${width} *)(${address(dst, off)}), ${reg}${src})`;
      return `lock *(u${width} *)(${address(dst, off)}) ${info.symbol}= ${reg}${src}`;
    }
  }
}

/** LLVM names the exchange forms by width: `xchg_64`, `xchg32_32`, `cmpxchg_64`, `cmpxchg32_32`. */
export function atomicSuffix(size: 'W' | 'DW'): string {
  return size === 'DW' ? '_64' : '32_32';
}

/**
 * One instruction in LLVM syntax, without jump-target annotation. Encodings
 * that RFC 9669 does not define print as `<unknown>`, as llvm-objdump does
 * (kernel-rewritten code using r11 among them: use formatBpftoolInstruction).
 */
export function formatLlvmInstruction(insn: Instruction): string {
  return formText(insn, formOf(insn));
}

/** The form of an instruction, or undefined for an encoding RFC 9669 does not define. */
function formOf(insn: Instruction): Form | undefined {
  try {
    return classify(insn);
  } catch (error) {
    if (error instanceof EncodingError) return undefined;
    throw error;
  }
}

/** ELF relocation type LLVM emits for each kind: 64-bit immediates are R_BPF_64_64, call immediates R_BPF_64_32. */
export const ELF_RELOCATION_TYPE: Record<RelocationKind, string> = {
  map_fd: 'R_BPF_64_64',
  map_value: 'R_BPF_64_64',
  func_addr: 'R_BPF_64_64',
  call: 'R_BPF_64_32',
  kfunc: 'R_BPF_64_32',
};

function relocationLine(relocation: Relocation, slot: number): string {
  const offset = (slot * SLOT_BYTES).toString(16).padStart(16, '0');
  const addend = relocation.addend ? `+${llvmHex(relocation.addend)}` : '';
  return `\t\t${offset}:  ${ELF_RELOCATION_TYPE[relocation.kind]}\t${relocation.symbol}${addend}`;
}

/** Names at each instruction index, functions first. */
function namesByIndex(listing: Listing): Map<number, { functions: string[]; labels: string[] }> {
  const out = new Map<number, { functions: string[]; labels: string[] }>();
  const at = (index: number) => {
    let entry = out.get(index);
    if (!entry) out.set(index, (entry = { functions: [], labels: [] }));
    return entry;
  };
  for (const fn of listing.functions ?? []) at(fn.insn).functions.push(fn.name);
  for (const label of listing.labels ?? []) {
    const entry = at(label.insn);
    if (!entry.functions.includes(label.name)) entry.labels.push(label.name);
  }
  return out;
}

/** The slot a jump or local call lands on, or undefined for other instructions. */
function targetSlot(insn: Instruction, form: Form | undefined, slot: number): number | undefined {
  if (form === undefined) return undefined;
  if (form.kind === 'jcond' || form.kind === 'ja') return slot + 1 + insn.off;
  if (form.kind === 'gotol' || (form.kind === 'call' && form.target === 'LOCAL')) return slot + 1 + insn.imm;
  return undefined;
}

/**
 * A whole listing as llvm-objdump prints it: `<name>:` before each function,
 * `label:` lines, one `<slot>:\t<text>` line per instruction, relocation
 * lines after the instruction they patch and, with `options.source`, a
 * trailing `; file:line` comment per instruction.
 */
export function formatLlvm(listing: Listing, options: FormatOptions = {}): string {
  const { insns } = listing;
  const slots = slotOffsets(insns);
  const indexAtSlot = indexBySlot(insns);
  const names = namesByIndex(listing);
  const relocations = new Map<number, Relocation[]>();
  for (const r of listing.relocations ?? []) relocations.set(r.insn, [...(relocations.get(r.insn) ?? []), r]);

  const nameAtSlot = (slot: number): string | undefined => {
    const index = indexAtSlot[slot];
    if (index === undefined || index < 0) return undefined;
    const entry = names.get(index);
    return entry?.functions[0] ?? entry?.labels[0];
  };

  const out = new TextBuffer();
  let lineCount = 0;
  const line = (text: string): void => {
    out.append(`${text}\n`);
    lineCount++;
  };
  for (let index = 0; index < insns.length; index++) {
    const insn = insns[index]!;
    const slot = slots[index]!;
    const entry = names.get(index);
    if (entry) {
      for (const name of entry.functions) {
        if (lineCount > 0) line('');
        line(`<${name}>:`);
      }
      for (const name of entry.labels) line(`${name}:`);
    }

    const form = formOf(insn);
    let text = formText(insn, form);
    const target = targetSlot(insn, form, slot);
    const targetName = target === undefined ? undefined : nameAtSlot(target);
    if (targetName !== undefined) text += ` <${targetName}>`;
    // Only read when asked for: a program built without call sites builds again to record them on first read.
    const at = options.source ? listing.sourceMap?.[index] : undefined;
    if (at) text += `\t; ${formatLocation(at)}`;
    line(`${String(slot).padStart(8)}:\t${text}`);
    const patched = relocations.get(index);
    if (patched) for (const r of patched) line(relocationLine(r, slot));
  }
  return out.text();
}

/**
 * Text appended as UTF-8 bytes to a growing buffer, decoded once at the end.
 * Each line string then dies young: kept as strings (in an array to join,
 * or as one string grown by +=) a million lines stay alive until the end,
 * and collecting around them took most of a large listing's time.
 */
class TextBuffer {
  static readonly #encoder = new TextEncoder();
  #bytes = new Uint8Array(1 << 16);
  #length = 0;

  append(text: string): void {
    // A UTF-8 character takes at most 3 bytes per UTF-16 code unit.
    const most = text.length * 3;
    if (this.#length + most > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.#length + most));
      grown.set(this.#bytes.subarray(0, this.#length));
      this.#bytes = grown;
    }
    this.#length += TextBuffer.#encoder.encodeInto(text, this.#bytes.subarray(this.#length)).written;
  }

  text(): string {
    return new TextDecoder().decode(this.#bytes.subarray(0, this.#length));
  }
}
