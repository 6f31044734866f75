import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AluOp,
  AtomicOp,
  ATOMIC_FETCH,
  CallSrc,
  InsnClass,
  JmpOp,
  LD_IMM64_CODE,
  Mode,
  PseudoSrc,
  Size,
  Source,
} from '../src/asm/opcodes.js';

/**
 * Every name in the opcode table against its value, checked twice: against
 * the kernel's UAPI headers (an implementation outside ours), and against
 * RFC 9669's numbers for what the installed headers predate (MEMSX).
 */

const UAPI_HEADERS = ['/usr/include/linux/bpf_common.h', '/usr/include/linux/bpf.h'];

function readUapiDefines(): Map<string, number> | undefined {
  if (!UAPI_HEADERS.every((p) => existsSync(p))) return undefined;
  const raw = new Map<string, string>();
  for (const path of UAPI_HEADERS) {
    for (const m of readFileSync(path, 'utf8').matchAll(/^#define\s+(BPF_[A-Z0-9_]+)\s+(.+?)(?:\s*\/\*.*)?$/gm)) {
      raw.set(m[1]!, m[2]!.trim());
    }
  }
  // Values are hex/decimal literals or `(0xe0 | BPF_FETCH)`; evaluate just that much.
  const evaluate = (expr: string): number | undefined => {
    const parts = expr.replace(/[()]/g, '').split('|').map((s) => s.trim());
    let value = 0;
    for (const part of parts) {
      if (/^(0x[0-9a-f]+|\d+)$/i.test(part)) value |= Number(part);
      else if (raw.has(part)) {
        const inner = evaluate(raw.get(part)!);
        if (inner === undefined) return undefined;
        value |= inner;
      } else return undefined;
    }
    return value;
  };
  const out = new Map<string, number>();
  for (const [name, expr] of raw) {
    const v = evaluate(expr);
    if (v !== undefined) out.set(name, v);
  }
  return out;
}

const uapi = readUapiDefines();
if (!uapi) console.warn(`opcodes.test: skipping the UAPI header comparison: ${UAPI_HEADERS.join(', ')} not installed (apt-get install linux-libc-dev)`);

/** Table name → UAPI macro name. */
const uapiPairs: [string, number, string][] = [
  ...Object.entries(InsnClass).map(([n, v]) => [`class ${n}`, v, `BPF_${n}`] as [string, number, string]),
  ...Object.entries(Source).map(([n, v]) => [`source ${n}`, v, `BPF_${n}`] as [string, number, string]),
  ...Object.entries(AluOp).map(([n, info]) => [`alu ${n}`, info.value, `BPF_${n}`] as [string, number, string]),
  ...Object.entries(JmpOp).map(([n, info]) => [`jmp ${n}`, info.value, `BPF_${n}`] as [string, number, string]),
  ...Object.entries(Size).map(([n, info]) => [`size ${n}`, info.value, `BPF_${n}`] as [string, number, string]),
  ...Object.entries(Mode)
    .filter(([n]) => n !== 'MEMSX')
    .map(([n, v]) => [`mode ${n}`, v, `BPF_${n}`] as [string, number, string]),
  ...Object.entries(AtomicOp).map(([n, info]) => [`atomic ${n}`, info.value, `BPF_${n}`] as [string, number, string]),
  ['atomic FETCH', ATOMIC_FETCH, 'BPF_FETCH'],
  ...Object.entries(PseudoSrc)
    .filter(([n]) => n !== 'IMM')
    .map(([n, v]) => [`pseudo ${n}`, v, `BPF_PSEUDO_${n}`] as [string, number, string]),
  ['call LOCAL', CallSrc.LOCAL, 'BPF_PSEUDO_CALL'],
  ['call KFUNC', CallSrc.KFUNC, 'BPF_PSEUDO_KFUNC_CALL'],
];

describe.skipIf(!uapi)('opcode table matches the kernel UAPI headers', () => {
  it.each(uapiPairs)('%s = %i is %s', (_label, value, macro) => {
    expect(uapi!.has(macro), `${macro} missing from the headers`).toBe(true);
    expect(value).toBe(uapi!.get(macro));
  });
});

describe('opcode table matches RFC 9669', () => {
  it('has the MEMSX mode (RFC 9669 §5, not in pre-6.6 headers)', () => {
    expect(Mode.MEMSX).toBe(0x80);
  });

  it('has no two names sharing a value within one field', () => {
    for (const table of [InsnClass, Mode, PseudoSrc, CallSrc]) {
      const values = Object.values(table);
      expect(new Set(values).size).toBe(values.length);
    }
    for (const table of [AluOp, JmpOp, Size, AtomicOp]) {
      const values = Object.values(table).map((i) => i.value);
      expect(new Set(values).size).toBe(values.length);
    }
  });

  // Whole opcodes as RFC 9669 Appendix A lists them.
  it.each([
    ['add64 imm', InsnClass.ALU64 | AluOp.ADD.value | Source.K, 0x07],
    ['add64 reg', InsnClass.ALU64 | AluOp.ADD.value | Source.X, 0x0f],
    ['mov32 imm', InsnClass.ALU | AluOp.MOV.value | Source.K, 0xb4],
    ['neg64', InsnClass.ALU64 | AluOp.NEG.value, 0x87],
    ['le', InsnClass.ALU | AluOp.END.value | Source.K, 0xd4],
    ['be', InsnClass.ALU | AluOp.END.value | Source.X, 0xdc],
    ['bswap', InsnClass.ALU64 | AluOp.END.value | Source.K, 0xd7],
    ['ja', InsnClass.JMP | JmpOp.JA.value, 0x05],
    ['gotol', InsnClass.JMP32 | JmpOp.JA.value, 0x06],
    ['jsle32 reg', InsnClass.JMP32 | JmpOp.JSLE.value | Source.X, 0xde],
    ['call', InsnClass.JMP | JmpOp.CALL.value, 0x85],
    ['exit', InsnClass.JMP | JmpOp.EXIT.value, 0x95],
    ['lddw', LD_IMM64_CODE, 0x18],
    ['ldabsh', InsnClass.LD | Mode.ABS | Size.H.value, 0x28],
    ['ldindw', InsnClass.LD | Mode.IND | Size.W.value, 0x40],
    ['ldxdw', InsnClass.LDX | Mode.MEM | Size.DW.value, 0x79],
    ['ldxsh', InsnClass.LDX | Mode.MEMSX | Size.H.value, 0x89],
    ['stb', InsnClass.ST | Mode.MEM | Size.B.value, 0x72],
    ['stxw', InsnClass.STX | Mode.MEM | Size.W.value, 0x63],
    ['atomic dw', InsnClass.STX | Mode.ATOMIC | Size.DW.value, 0xdb],
    ['atomic w', InsnClass.STX | Mode.ATOMIC | Size.W.value, 0xc3],
  ])('%s has opcode %i', (_name, built, expected) => {
    expect(built).toBe(expected);
  });
});
