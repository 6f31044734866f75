import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { be16, be32, ipv4, parseIpv4 } from '../src/asm/byteorder.js';
import { ProgramBuilder, r0, r1, r10, r2, r3, r6, reg, w0, w1, w2 } from '../src/asm/dsl/index.js';
import type { MapDefinition } from '../src/asm/program.js';

const LLVM_MC = 'llvm-mc-19';
const OBJCOPY = 'llvm-objcopy-19';
const HEADER = '/usr/include/linux/bpf.h';
const THIS_FILE = new URL(import.meta.url).pathname;

function haveTool(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Assemble LLVM BPF assembly with llvm-mc and return the .text bytes. */
function llvmAssemble(source: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'bpfgen-dsl-'));
  try {
    writeFileSync(join(dir, 'a.s'), source);
    execFileSync(LLVM_MC, ['-triple', 'bpfel', '-mcpu=v4', '-filetype=obj', join(dir, 'a.s'), '-o', join(dir, 'a.o')]);
    execFileSync(OBJCOPY, ['-O', 'binary', '--only-section=.text', join(dir, 'a.o'), join(dir, 'a.bin')]);
    return new Uint8Array(readFileSync(join(dir, 'a.bin')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** 1-based number of the only line of this file that ends with the comment `// marker`. */
function lineOf(marker: string): number {
  const lines = readFileSync(THIS_FILE, 'utf8').split('\n');
  const hits = lines.flatMap((text, i) => (text.trimEnd().endsWith(`// ${marker}`) ? [i + 1] : []));
  expect(hits, `marker ${marker}`).toHaveLength(1);
  return hits[0]!;
}

/** Each DSL call next to the LLVM assembly it must produce. */
const ISA: [string, (b: ProgramBuilder) => void][] = [
  ['top:', (b) => b.label('top')],
  ['r1 = r2', (b) => b.mov(r1, r2)],
  ['w1 = w2', (b) => b.mov(w1, w2)],
  ['r1 = -7', (b) => b.mov(r1, -7)],
  ['w1 = -1', (b) => b.mov(w1, 0xffffffff)],
  ['r1 += r2', (b) => b.add(r1, r2)],
  ['w1 += 3', (b) => b.add(w1, 3)],
  ['r1 -= 3', (b) => b.sub(r1, 3)],
  ['w1 -= w2', (b) => b.sub(w1, w2)],
  ['r1 *= r2', (b) => b.mul(r1, r2)],
  ['w1 *= 9', (b) => b.mul(w1, 9)],
  ['r1 /= r2', (b) => b.div(r1, r2)],
  ['w1 /= 9', (b) => b.div(w1, 9)],
  ['r1 s/= r2', (b) => b.sdiv(r1, r2)],
  ['w1 s/= 3', (b) => b.sdiv(w1, 3)],
  ['r1 %= 10', (b) => b.mod(r1, 10)],
  ['w1 %= w2', (b) => b.mod(w1, w2)],
  ['r1 s%= r2', (b) => b.smod(r1, r2)],
  ['w1 s%= 7', (b) => b.smod(w1, 7)],
  ['r1 |= r2', (b) => b.or(r1, r2)],
  ['w1 |= 0x80', (b) => b.or(w1, 0x80)],
  ['r1 &= 0xff', (b) => b.and(r1, 0xff)],
  ['w1 &= w2', (b) => b.and(w1, w2)],
  ['r1 ^= r2', (b) => b.xor(r1, r2)],
  ['w1 ^= -1', (b) => b.xor(w1, -1)],
  ['r1 <<= 63', (b) => b.lsh(r1, 63)],
  ['w1 <<= w2', (b) => b.lsh(w1, w2)],
  ['r1 >>= r2', (b) => b.rsh(r1, r2)],
  ['w1 >>= 31', (b) => b.rsh(w1, 31)],
  ['r1 s>>= 5', (b) => b.arsh(r1, 5)],
  ['w1 s>>= w2', (b) => b.arsh(w1, w2)],
  ['r1 = -r1', (b) => b.neg(r1)],
  ['w1 = -w1', (b) => b.neg(w1)],
  ['r1 = (s8)r2', (b) => b.movsx(r1, r2, 8)],
  ['r1 = (s16)r2', (b) => b.movsx(r1, r2, 16)],
  ['r1 = (s32)r2', (b) => b.movsx(r1, r2, 32)],
  ['w1 = (s8)w2', (b) => b.movsx(w1, w2, 8)],
  ['w1 = (s16)w2', (b) => b.movsx(w1, w2, 16)],
  ['r1 = le16 r1', (b) => b.le(r1, 16)],
  ['r1 = le32 r1', (b) => b.le(r1, 32)],
  ['r1 = le64 r1', (b) => b.le(r1, 64)],
  ['r1 = be16 r1', (b) => b.be(r1, 16)],
  ['r1 = be32 r1', (b) => b.be(r1, 32)],
  ['r1 = be64 r1', (b) => b.be(r1, 64)],
  ['r1 = bswap16 r1', (b) => b.bswap(r1, 16)],
  ['r1 = bswap32 r1', (b) => b.bswap(r1, 32)],
  ['r1 = bswap64 r1', (b) => b.bswap(r1, 64)],
  ['if r1 == r2 goto top', (b) => b.jeq(r1, r2, 'top')],
  ['if w1 == 5 goto bottom', (b) => b.jeq(w1, 5, 'bottom')],
  ['if r1 != 5 goto top', (b) => b.jne(r1, 5, 'top')],
  ['if w1 != w2 goto bottom', (b) => b.jne(w1, w2, 'bottom')],
  ['if r1 > r2 goto top', (b) => b.jgt(r1, r2, 'top')],
  ['if w1 > 5 goto bottom', (b) => b.jgt(w1, 5, 'bottom')],
  ['if r1 >= 5 goto top', (b) => b.jge(r1, 5, 'top')],
  ['if w1 >= w2 goto bottom', (b) => b.jge(w1, w2, 'bottom')],
  ['if r1 < r2 goto top', (b) => b.jlt(r1, r2, 'top')],
  ['if w1 < 5 goto bottom', (b) => b.jlt(w1, 5, 'bottom')],
  ['if r1 <= 5 goto top', (b) => b.jle(r1, 5, 'top')],
  ['if w1 <= w2 goto bottom', (b) => b.jle(w1, w2, 'bottom')],
  ['if r1 s> r2 goto top', (b) => b.jsgt(r1, r2, 'top')],
  ['if w1 s> -5 goto bottom', (b) => b.jsgt(w1, -5, 'bottom')],
  ['if r1 s>= -5 goto top', (b) => b.jsge(r1, -5, 'top')],
  ['if w1 s>= w2 goto bottom', (b) => b.jsge(w1, w2, 'bottom')],
  ['if r1 s< r2 goto top', (b) => b.jslt(r1, r2, 'top')],
  ['if w1 s< 5 goto bottom', (b) => b.jslt(w1, 5, 'bottom')],
  ['if r1 s<= 5 goto top', (b) => b.jsle(r1, 5, 'top')],
  ['if w1 s<= w2 goto bottom', (b) => b.jsle(w1, w2, 'bottom')],
  ['if r1 & r2 goto top', (b) => b.jset(r1, r2, 'top')],
  ['if w1 & 5 goto bottom', (b) => b.jset(w1, 5, 'bottom')],
  ['if r10 == r1 goto top', (b) => b.jeq(r10, r1, 'top')],
  ['goto top', (b) => b.ja('top')],
  ['goto bottom', (b) => b.ja('bottom')],
  ['gotol top', (b) => b.gotol('top')],
  ['gotol bottom', (b) => b.gotol('bottom')],
  ['r1 = *(u8 *)(r2 + 1)', (b) => b.ldx('u8', r1, r2, 1)],
  ['r1 = *(u16 *)(r2 + 2)', (b) => b.ldx('u16', r1, r2, 2)],
  ['r1 = *(u32 *)(r2 + 4)', (b) => b.ldx('u32', r1, r2, 4)],
  ['r1 = *(u64 *)(r10 - 8)', (b) => b.ldx('u64', r1, r10, -8)],
  ['r1 = *(s8 *)(r2 + 1)', (b) => b.ldx('s8', r1, r2, 1)],
  ['r1 = *(s16 *)(r2 - 2)', (b) => b.ldx('s16', r1, r2, -2)],
  ['r1 = *(s32 *)(r2 + 4)', (b) => b.ldx('s32', r1, r2, 4)],
  ['*(u8 *)(r1 + 1) = 255', (b) => b.st('u8', r1, 1, 255)],
  ['*(u16 *)(r1 + 2) = -1', (b) => b.st('u16', r1, 2, -1)],
  ['*(u32 *)(r1 + 4) = 7', (b) => b.st('u32', r1, 4, 7)],
  ['*(u64 *)(r10 - 16) = -5', (b) => b.st('u64', r10, -16, -5)],
  ['*(u8 *)(r1 + 1) = r2', (b) => b.stx('u8', r1, 1, r2)],
  ['*(u16 *)(r1 + 2) = r2', (b) => b.stx('u16', r1, 2, r2)],
  ['*(u32 *)(r1 + 4) = r2', (b) => b.stx('u32', r1, 4, r2)],
  ['*(u64 *)(r10 - 8) = r1', (b) => b.stx('u64', r10, -8, r1)],
  ['lock *(u32 *)(r1 + 0) += w2', (b) => b.atomic('add', 'u32', r1, 0, w2)],
  ['lock *(u64 *)(r1 + 8) |= r2', (b) => b.atomic('or', 'u64', r1, 8, r2)],
  ['lock *(u32 *)(r1 + 0) &= w2', (b) => b.atomic('and', 'u32', r1, 0, w2)],
  ['lock *(u64 *)(r1 + 0) ^= r2', (b) => b.atomic('xor', 'u64', r1, 0, r2)],
  ['r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)', (b) => b.atomicFetch('add', 'u64', r1, 0, r2)],
  ['w2 = atomic_fetch_or((u32 *)(r1 + 4), w2)', (b) => b.atomicFetch('or', 'u32', r1, 4, w2)],
  ['r2 = atomic_fetch_and((u64 *)(r1 + 0), r2)', (b) => b.atomicFetch('and', 'u64', r1, 0, r2)],
  ['w2 = atomic_fetch_xor((u32 *)(r1 - 4), w2)', (b) => b.atomicFetch('xor', 'u32', r1, -4, w2)],
  ['r2 = xchg_64(r1 + 0, r2)', (b) => b.xchg('u64', r1, 0, r2)],
  ['w2 = xchg32_32(r1 + 0, w2)', (b) => b.xchg('u32', r1, 0, w2)],
  ['r0 = cmpxchg_64(r1 + 0, r0, r2)', (b) => b.cmpxchg('u64', r1, 0, r2)],
  ['w0 = cmpxchg32_32(r1 + 0, w0, w2)', (b) => b.cmpxchg('u32', r1, 0, w2)],
  ['r1 = 0x123456789 ll', (b) => b.ldImm64(r1, 0x123456789n)],
  ['r6 = -2 ll', (b) => b.ldImm64(r6, -2)],
  ['r3 = 0xfedcba9876543210 ll', (b) => b.ldImm64(r3, 0xfedcba9876543210n)],
  ['r0 = *(u8 *)skb[12]', (b) => b.ldAbs('u8', 12)],
  ['r0 = *(u16 *)skb[14]', (b) => b.ldAbs('u16', 14)],
  ['r0 = *(u32 *)skb[26]', (b) => b.ldAbs('u32', 26)],
  ['r0 = *(u8 *)skb[r1]', (b) => b.ldInd('u8', r1, 0)],
  ['r0 = *(u16 *)skb[r1]', (b) => b.ldInd('u16', r1, 0)],
  ['r0 = *(u32 *)skb[r1]', (b) => b.ldInd('u32', r1, 0)],
  ['call 1', (b) => b.call('map_lookup_elem', r1, r2)],
  ['call 5', (b) => b.call('ktime_get_ns')],
  ['bottom:', (b) => b.label('bottom')],
  ['r0 = 0', (b) => b.mov(r0, 0)],
  ['exit', (b) => b.exit()],
];

describe('DSL encoding', () => {
  it.skipIf(!haveTool(LLVM_MC))('emits the bytes llvm-mc assembles from the same program, for every instruction form', () => {
    const b = new ProgramBuilder({ name: 'isa', type: 'socket_filter', license: 'GPL' });
    for (const [, emit] of ISA) emit(b);
    const ours = b.assemble();
    const theirs = llvmAssemble(ISA.map(([text]) => (text.endsWith(':') ? text : `  ${text}`)).join('\n') + '\n');
    expect(Buffer.from(ours.bytes).toString('hex')).toBe(Buffer.from(theirs).toString('hex'));
    expect(ours.labels).toEqual([
      { name: 'top', insn: 0 },
      { name: 'bottom', insn: ours.insns.length - 2 },
    ]);
  });

  it('turns ja into gotol when the label is beyond the 16-bit offset, and keeps ja when it is not', () => {
    const b = new ProgramBuilder({ name: 'far', type: 'xdp', license: 'GPL', captureSites: false });
    b.ja('near');
    b.label('near');
    b.ja('far');
    for (let i = 0; i < 40_000; i++) b.mov(r0, i & 0xff);
    b.label('far');
    b.exit();
    const { insns } = b.assemble();
    // RFC 9669: ja (JMP class) jumps by off, gotol (JMP32 class) by imm, from the next instruction.
    expect(insns[0]).toMatchObject({ code: 0x05, off: 0, imm: 0 });
    expect(insns[1]).toMatchObject({ code: 0x06, off: 0, imm: 40_000 });
  });

  it('emits map references as ld_imm64 with the UAPI pseudo sources and imm 0, plus relocations', () => {
    const config: MapDefinition = { name: 'config', type: 'array', keySize: 4, valueSize: 16, maxEntries: 1 };
    const counts: MapDefinition = { name: 'counts', type: 'hash', keySize: 4, valueSize: 8, maxEntries: 64 };
    const b = new ProgramBuilder({ name: 'maps', type: 'xdp', license: 'GPL', maps: [config] });
    b.declareMap(counts);
    b.ldMap(r1, 'counts');
    b.mov(r2, r10);
    b.add(r2, -4);
    b.call('map_lookup_elem', r1, r2);
    b.ldMapValue(r3, 'config', 8);
    b.ret(2);
    const program = b.assemble();

    const header = existsSync(HEADER) ? readFileSync(HEADER, 'utf8') : undefined;
    const pseudo = (name: string, fallback: number): number => {
      const m = header && new RegExp(`#define\\s+${name}\\s+(\\d+)`).exec(header);
      return m ? Number(m[1]) : fallback;
    };
    const bytes = Buffer.from(program.bytes);
    // ld_imm64 is opcode 0x18; the src register nibble carries the pseudo source.
    expect(bytes[0]).toBe(0x18);
    expect(bytes[1]! >> 4).toBe(pseudo('BPF_PSEUDO_MAP_FD', 1));
    expect(bytes.readInt32LE(4)).toBe(0);
    expect(bytes.readInt32LE(12)).toBe(0);
    const valueSlot = 2 + 1 + 1 + 1; // ld_imm64 takes two slots, then mov, add, call
    expect(bytes[valueSlot * 8]).toBe(0x18);
    expect(bytes[valueSlot * 8 + 1]! >> 4).toBe(pseudo('BPF_PSEUDO_MAP_VALUE', 2));
    expect(bytes[valueSlot * 8 + 1]! & 0xf).toBe(3);
    expect(bytes.readInt32LE(valueSlot * 8 + 4)).toBe(0);
    expect(bytes.readInt32LE(valueSlot * 8 + 12)).toBe(8);

    expect(program.relocations).toEqual([
      { insn: 0, kind: 'map_fd', symbol: 'counts' },
      { insn: 4, kind: 'map_value', symbol: 'config', addend: 8 },
    ]);
    expect(program.maps.map((m) => m.name)).toEqual(['config', 'counts']);
  });

  it('lays subprograms out after the entry function and points calls at them by the kernel rule', () => {
    const b = new ProgramBuilder({ name: 'calls', type: 'xdp', license: 'GPL' });
    b.ldImm64(r1, 1n); // two slots, so slot and instruction numbers differ from here on
    b.callLocal('double');
    b.mov(r6, r0);
    b.callLocal('triple');
    b.subprogram('triple', () => {
      b.mov(r0, r1);
      b.mul(r0, 3);
      b.exit();
    });
    b.ldFunc(r2, 'double');
    b.ret(r6);
    b.subprogram('double', () => {
      b.label('double_body');
      b.mov(r0, r1);
      b.lsh(r0, 1);
      b.jeq(r0, 0, 'double_body');
      b.exit();
    });
    const program = b.assemble();

    expect(program.functions).toEqual([
      { name: 'calls', insn: 0, length: 7, entry: true },
      { name: 'triple', insn: 7, length: 3, entry: false },
      { name: 'double', insn: 10, length: 4, entry: false },
    ]);
    const slotOf = (index: number): number => program.insns.slice(0, index).reduce((n, insn) => n + (insn.code === 0x18 ? 2 : 1), 0);
    // Kernel (check_subprogs, libbpf reloc): a call at slot i with imm k, or an ld_imm64 of a function, targets slot i + k + 1.
    const target = (index: number): number => slotOf(index) + program.insns[index]!.imm + 1;
    expect(target(1)).toBe(slotOf(10));
    expect(target(3)).toBe(slotOf(7));
    expect(target(4)).toBe(slotOf(10));
    expect(program.insns[4]).toMatchObject({ code: 0x18, src: 4 }); // BPF_PSEUDO_FUNC
    expect(program.insns[1]).toMatchObject({ code: 0x85, src: 1 }); // BPF_PSEUDO_CALL
    expect(program.relocations).toEqual([
      { insn: 1, kind: 'call', symbol: 'double' },
      { insn: 3, kind: 'call', symbol: 'triple' },
      { insn: 4, kind: 'func_addr', symbol: 'double' },
    ]);
    // The backward jump inside the subprogram: off -3 from the next instruction.
    expect(program.insns[12]).toMatchObject({ off: -3 });
    expect(program.labels).toEqual([{ name: 'double_body', insn: 10 }]);
  });

  it('gives building blocks private labels, so a block can be used twice', () => {
    /** `dst = min(dst, limit)` with a label of its own. */
    const clamp = (b: ProgramBuilder, limit: number): void => {
      const done = b.uniqueLabel('clamp');
      b.jle(r1, limit, done);
      b.mov(r1, limit);
      b.label(done);
    };
    const b = new ProgramBuilder({ name: 'blocks', type: 'xdp', license: 'GPL' });
    clamp(b, 10);
    clamp(b, 5);
    b.ret(r1);
    const program = b.assemble();
    expect(new Set(program.labels.map((l) => l.name)).size).toBe(2);
    expect(program.labels.map((l) => l.insn)).toEqual([2, 4]);
    // Each jle skips exactly its own mov: target = index + off + 1.
    expect(program.insns[0]!.off).toBe(1);
    expect(program.insns[2]!.off).toBe(1);
  });

  it('records kfunc calls as relocations', () => {
    const b = new ProgramBuilder({ name: 'kf', type: 'xdp', license: 'GPL' });
    b.callKfunc('bpf_rcu_read_lock');
    b.ret(0);
    const program = b.assemble();
    expect(program.insns[0]).toMatchObject({ code: 0x85, src: 2, imm: 0 });
    expect(program.relocations).toEqual([{ insn: 0, kind: 'kfunc', symbol: 'bpf_rcu_read_lock' }]);
  });
});

describe('call sites', () => {
  it('maps every instruction to the line of this file that emitted it', () => {
    const b = new ProgramBuilder({ name: 'sites', type: 'xdp', license: 'GPL' });
    b.mov(r0, 1); // @site:mov
    b.ldImm64(r1, 5n); // @site:ld
    b.ret(2); // @site:ret
    const program = b.assemble();
    const lines = program.sourceMap.map((at) => at?.line);
    expect(lines).toEqual([lineOf('@site:mov'), lineOf('@site:ld'), lineOf('@site:ret'), lineOf('@site:ret')]);
    for (const at of program.sourceMap) expect(at?.file).toMatch(/test\/dsl\.test\.ts$/);
  });

  it('leaves the source map empty when capture is off', () => {
    const b = new ProgramBuilder({ name: 'nosites', type: 'xdp', license: 'GPL', captureSites: false });
    b.ret(0);
    expect(b.assemble().sourceMap).toEqual([undefined, undefined]);
  });
});

describe('registers', () => {
  it('has 32-bit views and a numeric escape hatch', () => {
    expect(r1.w).toBe(w1);
    expect(w1.w).toBe(w1);
    expect(reg(3)).toBe(r3);
    expect(r10.writable).toBe(false);
    expect(String(w2)).toBe('w2');
    expect(w0.index).toBe(0);
  });
});

describe('byte order', () => {
  // Buffer's little-endian reads are the oracle for "what a little-endian load of network-order bytes reads".
  it('be16 and be32 give the value of a little-endian load of the big-endian bytes', () => {
    for (const value of [0, 1, 53, 5053, 0x1234, 0xff00, 0xffff]) {
      const bytes = Buffer.alloc(2);
      bytes.writeUInt16BE(value);
      expect(be16(value)).toBe(bytes.readUInt16LE(0));
      expect(be16(be16(value))).toBe(value);
    }
    for (const value of [0, 1, 0x12345678, 0x80000000, 0xffffffff, 0x647f88f1]) {
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32BE(value);
      expect(be32(value)).toBe(bytes.readUInt32LE(0));
    }
  });

  it('ipv4 gives the value of a 4-byte little-endian load of the address as it sits in a packet', () => {
    expect(ipv4('100.127.136.241')).toBe(Buffer.from([100, 127, 136, 241]).readUInt32LE(0));
    expect(ipv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4('100.127.136.241')).toBe(Buffer.from([100, 127, 136, 241]).readUInt32BE(0));
    for (const bad of ['1.2.3', '256.1.1.1', 'abc', '1.2.3.4.5', '01.2.3.4', '1.2.3.-4', ' 1.2.3.4', '']) {
      expect(parseIpv4(bad), bad).toBeUndefined();
    }
  });
});
