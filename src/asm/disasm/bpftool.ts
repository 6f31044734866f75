/**
 * The text of `bpftool prog dump xlated`, which is the kernel's own
 * disassembler (kernel/bpf/disasm.c) plus bpftool's names for maps and calls:
 *
 *      0: (61) r2 = *(u32 *)(r1 +4)
 *      5: (18) r1 = map[id:5]
 *      7: (85) call bpf_map_lookup_elem#1
 *
 * It works from the raw fields, as the kernel does, rather than from
 * classify(): code the kernel rewrote (xlated code) may use its scratch
 * register r11 or internal forms, and must still print.
 */
import { formatLocation } from '../errors.js';
import type { Instruction } from '../instruction.js';
import { helperById } from '../helpers.js';
import {
  ATOMIC_FETCH,
  CallSrc,
  InsnClass,
  LD_IMM64_CODE,
  Mask,
  Mode,
  PseudoSrc,
  Size,
  Source,
  aluOpByValue,
  atomicOpByValue,
  classByValue,
  jmpOpByValue,
  sizeByValue,
} from '../opcodes.js';
import { slotOffsets } from '../program.js';
import type { FormatOptions, Listing } from './listing.js';

export interface BpftoolFormatOptions extends FormatOptions {
  /**
   * Name for a call the helper table cannot name, as bpftool asks kallsyms:
   * in xlated code a helper call's imm is the helper's address relative to
   * `__bpf_call_base`; a local call gets `#<name>` after its distance, as
   * bpftool appends the subprogram's JIT symbol.
   * Return undefined to fall back to the kernel's own text.
   */
  readonly callName?: (insn: Instruction) => string | undefined;
}

/**
 * Kernel-internal MOV offset (BPF_ADDR_PERCPU, kernel/bpf/verifier.c): the
 * verifier emits it when it inlines per-CPU lookups, so xlated code has it.
 */
const ADDR_PERCPU_OFF = -1;

/** `%+d`: always signed. */
const signed = (n: number): string => (n < 0 ? String(n) : `+${n}`);
const hex2 = (code: number): string => code.toString(16).padStart(2, '0');

function sizeType(code: number, signExtend = false): string {
  const [, info] = sizeByValue.get(code & Mask.SIZE)!;
  return `${signExtend ? 's' : 'u'}${info.bytes * 8}`;
}

function aluText(insn: Instruction): string | undefined {
  const { code, dst, src, off, imm } = insn;
  const wide = (code & Mask.CLASS) === InsnClass.ALU64;
  const reg = wide ? 'r' : 'w';
  const entry = aluOpByValue.get(code & Mask.OP);
  if (!entry) return undefined;
  const [name, info] = entry;
  if (name === 'END') {
    if (wide) return `r${dst} = bswap${imm} r${dst}`;
    return `r${dst} = ${(code & Mask.SOURCE) === Source.X ? 'be' : 'le'}${imm} r${dst}`;
  }
  if (name === 'NEG') return `${reg}${dst} = -${reg}${dst}`;
  const x = (code & Mask.SOURCE) === Source.X;
  if (wide && x && name === 'MOV' && off === ADDR_PERCPU_OFF) return `r${dst} = &(void __percpu *)(r${src})`;
  const operator = `${info.signed && off === 1 ? info.signed.symbol : info.symbol}=`;
  if (!x) return `${reg}${dst} ${operator} ${imm}`;
  const cast = name === 'MOV' && (off === 8 || off === 16 || off === 32) ? `(s${off})` : '';
  return `${reg}${dst} ${operator} ${cast}${reg}${src}`;
}

function atomicText(insn: Instruction): string | undefined {
  const { code, dst, src, off, imm } = insn;
  const type = sizeType(code);
  const width = (code & Mask.SIZE) === Size.DW.value ? '64' : '';
  const memory = `(${type} *)(r${dst} ${signed(off)})`;
  const entry = atomicOpByValue.get(imm) ?? atomicOpByValue.get(imm & ~ATOMIC_FETCH);
  if (!entry) return undefined;
  const [name, info] = entry;
  if (name === 'CMPXCHG' && imm === info.value) return `r0 = atomic${width}_cmpxchg(${memory}, r0, r${src})`;
  if (name === 'XCHG' && imm === info.value) return `r${src} = atomic${width}_xchg(${memory}, r${src})`;
  if (info.alwaysFetch) return undefined;
  if (imm === info.value) return `lock *(${type} *)(r${dst} ${signed(off)}) ${info.symbol}= r${src}`;
  return `r${src} = atomic${width}_fetch_${info.mnemonic}(${memory}, r${src})`;
}

/** bpftool's names for 64-bit immediates that refer to maps and subprograms. */
function imm64Text(insn: Instruction): string {
  const imm2 = insn.imm2 ?? 0;
  switch (insn.src) {
    case PseudoSrc.MAP_FD:
      return `map[id:${insn.imm >>> 0}]`;
    case PseudoSrc.MAP_VALUE:
      return `map[id:${insn.imm >>> 0}][0]+${imm2 >>> 0}`;
    case PseudoSrc.MAP_IDX_VALUE:
      return `map[idx:${insn.imm >>> 0}]+${imm2 >>> 0}`;
    case PseudoSrc.FUNC:
      return `subprog[${signed(insn.imm)}]`;
    default: {
      const full = (BigInt(imm2 >>> 0) << 32n) | BigInt(insn.imm >>> 0);
      return `0x${full.toString(16)}`;
    }
  }
}

function callText(insn: Instruction, options: BpftoolFormatOptions): string {
  if (insn.src === CallSrc.LOCAL) {
    // A JITed program's xlated code moves the distance to off and puts the
    // subprogram's index in imm; in any other code off of a call is 0.
    const distance = insn.off !== 0 ? insn.off : insn.imm;
    const symbol = options.callName?.(insn);
    return `call pc${signed(distance)}${symbol !== undefined ? `#${symbol}` : ''}`;
  }
  const helper = insn.src === CallSrc.HELPER ? helperById(insn.imm) : undefined;
  const fallback = insn.src === CallSrc.KFUNC ? 'kernel-function' : 'unknown';
  const name = helper ? `bpf_${helper.name}` : (options.callName?.(insn) ?? fallback);
  return `call ${name}#${insn.imm}`;
}

function jmpText(insn: Instruction, options: BpftoolFormatOptions): string | undefined {
  const { code, dst, src, off, imm } = insn;
  const wide = (code & Mask.CLASS) === InsnClass.JMP;
  const entry = jmpOpByValue.get(code & Mask.OP);
  if (!entry) return undefined;
  const [name, info] = entry;
  if (name === 'CALL') return callText(insn, options);
  if (name === 'JA' && (code & Mask.SOURCE) === Source.K) return wide ? `goto pc${signed(off)}` : `gotol pc${signed(imm)}`;
  if (name === 'EXIT' && wide) return 'exit';
  if (info.symbol === '') return undefined;
  const reg = wide ? 'r' : 'w';
  const operand = (code & Mask.SOURCE) === Source.X ? `${reg}${src}` : `0x${(imm >>> 0).toString(16)}`;
  return `if ${reg}${dst} ${info.symbol} ${operand} goto pc${signed(off)}`;
}

/**
 * One instruction as the kernel prints it, with its opcode: `(bf) r1 = r6`.
 * Encodings the kernel cannot print come out as its `BUG_<class>_<code>`.
 */
export function formatBpftoolInstruction(insn: Instruction, options: BpftoolFormatOptions = {}): string {
  const { code, dst, src, off, imm } = insn;
  const cls = code & Mask.CLASS;
  const mode = code & Mask.MODE;
  let text: string | undefined;
  switch (cls) {
    case InsnClass.ALU:
    case InsnClass.ALU64:
      text = aluText(insn);
      break;
    case InsnClass.JMP:
    case InsnClass.JMP32:
      text = jmpText(insn, options);
      break;
    case InsnClass.STX:
      if (mode === Mode.MEM) text = `*(${sizeType(code)} *)(r${dst} ${signed(off)}) = r${src}`;
      else if (mode === Mode.ATOMIC) text = atomicText(insn);
      break;
    case InsnClass.ST:
      if (mode === Mode.MEM) text = `*(${sizeType(code)} *)(r${dst} ${signed(off)}) = ${imm}`;
      break;
    case InsnClass.LDX:
      if (mode === Mode.MEM || mode === Mode.MEMSX) text = `r${dst} = *(${sizeType(code, mode === Mode.MEMSX)} *)(r${src} ${signed(off)})`;
      break;
    case InsnClass.LD:
      if (mode === Mode.ABS) text = `r0 = *(${sizeType(code)} *)skb[${imm}]`;
      else if (mode === Mode.IND) text = `r0 = *(${sizeType(code)} *)skb[r${src} + ${imm}]`;
      else if (code === LD_IMM64_CODE) text = `r${dst} = ${imm64Text(insn)}`;
      break;
  }
  if (text === undefined) return `BUG_${classByValue.get(cls)!.toLowerCase()}_${hex2(code)}`;
  return `(${hex2(code)}) ${text}`;
}

/**
 * A listing as `bpftool prog dump xlated` prints it: `% 4d: ` slot numbers,
 * `name:` before each function and, with `options.source`, a `; file:line`
 * line wherever the source location changes.
 */
export function formatBpftool(listing: Listing, options: BpftoolFormatOptions = {}): string {
  const slots = slotOffsets(listing.insns);
  const functions = new Map((listing.functions ?? []).map((fn) => [fn.insn, fn.name]));
  const lines: string[] = [];
  let lastLocation: string | undefined;
  listing.insns.forEach((insn, index) => {
    const fn = functions.get(index);
    if (fn !== undefined) lines.push(`${fn}:`);
    // Only read when asked for: a program built without call sites builds again to record them on first read.
    const at = options.source ? listing.sourceMap?.[index] : undefined;
    if (at) {
      const location = formatLocation(at);
      if (location !== lastLocation) lines.push(`; ${location}`);
      lastLocation = location;
    }
    lines.push(` ${String(slots[index]).padStart(3)}: ${formatBpftoolInstruction(insn, options)}`);
  });
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
