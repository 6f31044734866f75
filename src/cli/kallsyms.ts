/**
 * Names for helper calls in kernel-translated code, found as bpftool finds
 * them: after verification a call's imm is the address of the kernel
 * function it calls minus the address of `__bpf_call_base`, and
 * /proc/kallsyms names that address.
 */
import { readFileSync } from 'node:fs';
import type { Instruction } from '../asm/instruction.js';
import { CallSrc, InsnClass, JmpOp, Mask } from '../asm/opcodes.js';

const CALL_CODE = InsnClass.JMP | JmpOp.CALL.value;

function isHelperCall(insn: Instruction): boolean {
  return (insn.code & (Mask.CLASS | Mask.OP)) === CALL_CODE && insn.src === CallSrc.HELPER;
}

/**
 * A `callName` for formatBpftool over `insns`, or undefined when the program
 * makes no helper calls or kallsyms shows no addresses (without root, or
 * with kernel.kptr_restrict 2). Unnamed addresses print as bpftool prints
 * them, `0x` and the address.
 */
export function helperCallNamer(insns: readonly Instruction[]): ((insn: Instruction) => string | undefined) | undefined {
  const calls = insns.filter(isHelperCall);
  if (calls.length === 0) return undefined;
  const text = kallsyms();
  if (text === undefined) return undefined;
  const base = /^([0-9a-f]+) \S+ __bpf_call_base$/m.exec(text);
  if (!base || /^0+$/.test(base[1]!)) return undefined;
  const baseAddress = BigInt(`0x${base[1]}`);
  const addressOf = (insn: Instruction): bigint => BigInt.asUintN(64, baseAddress + BigInt(insn.imm));
  // kallsyms prints addresses zero-padded to the width of a pointer.
  const key = (insn: Instruction): string => addressOf(insn).toString(16).padStart(base[1]!.length, '0');
  const names = new Map<string, string>();
  for (const address of new Set(calls.map(key))) {
    // The first symbol at the address: a search per call target rather than a parse of every line.
    const prefix = `${address} `;
    const newline = text.indexOf(`\n${prefix}`);
    const start = text.startsWith(prefix) ? 0 : newline < 0 ? undefined : newline + 1;
    if (start === undefined) continue;
    const name = text.slice(start, text.indexOf('\n', start)).split(' ')[2];
    if (name) names.set(address, name);
  }
  return (insn) => {
    if (!isHelperCall(insn)) return undefined;
    return names.get(key(insn)) ?? `0x${addressOf(insn).toString(16)}`;
  };
}

let cached: string | undefined;

/**
 * /proc/kallsyms, read once per process: the kernel formats over a hundred
 * thousand lines for each read, and the addresses of helpers do not move
 * while it runs. Undefined when it cannot be read.
 */
function kallsyms(): string | undefined {
  if (cached !== undefined) return cached;
  try {
    cached = readFileSync('/proc/kallsyms', 'utf8');
  } catch {
    return undefined;
  }
  return cached;
}
