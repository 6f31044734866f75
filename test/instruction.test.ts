import { describe, expect, it } from 'vitest';
import { EncodingError, classify, decode, encode, imm64Of } from '../src/asm/instruction.js';
import { everyForm } from './support/forms.js';

const bytes = (...words: number[][]): Uint8Array => Uint8Array.from(words.flat());

describe('encode → decode → encode', () => {
  it.each(everyForm())('%s', (_name, insn) => {
    expect(() => classify(insn)).not.toThrow();
    const encoded = encode([insn]);
    const decoded = decode(encoded);
    expect(decoded).toEqual([insn]);
    expect(encode(decoded)).toEqual(encoded);
  });

  it('encodes ld_imm64 as two slots with the high half in the second (RFC 9669 §5.4)', () => {
    const [insn] = decode(bytes([0x18, 0, 0, 0, 0x88, 0x77, 0x66, 0x55], [0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11]));
    expect(imm64Of(insn!)).toBe(0x1122334455667788n);
  });

  it('keeps registers in the low (dst) and high (src) nibble', () => {
    expect(encode([{ code: 0x0f, dst: 1, src: 2, off: 0, imm: 0 }])[1]).toBe(0x21);
  });
});

describe('decode rejects encodings RFC 9669 does not define', () => {
  const cases: [string, Uint8Array, number, string][] = [
    ['unknown ALU op', bytes([0xe7, 0, 0, 0, 0, 0, 0, 0]), 0, 'code'],
    ['unknown JMP op', bytes([0xe5, 0, 0, 0, 0, 0, 0, 0]), 0, 'code'],
    ['exit in JMP32', bytes([0x96, 0, 0, 0, 0, 0, 0, 0]), 0, 'code'],
    ['add imm with nonzero src', bytes([0x07, 0x10, 0, 0, 1, 0, 0, 0]), 0, 'src'],
    ['add reg with nonzero imm', bytes([0x0f, 0x21, 0, 0, 1, 0, 0, 0]), 0, 'imm'],
    ['add with nonzero offset', bytes([0x07, 0x01, 1, 0, 1, 0, 0, 0]), 0, 'off'],
    ['div with offset 2', bytes([0x37, 0x01, 2, 0, 1, 0, 0, 0]), 0, 'off'],
    ['movsx32 from 32 bits', bytes([0xbc, 0x21, 32, 0, 0, 0, 0, 0]), 0, 'off'],
    ['neg with imm', bytes([0x87, 0x01, 0, 0, 1, 0, 0, 0]), 0, 'imm'],
    ['be with width 8', bytes([0xdc, 0x01, 0, 0, 8, 0, 0, 0]), 0, 'imm'],
    ['ALU64 END from register', bytes([0xdf, 0x01, 0, 0, 16, 0, 0, 0]), 0, 'code'],
    ['ja with imm', bytes([0x05, 0, 0, 0, 1, 0, 0, 0]), 0, 'imm'],
    ['gotol with offset', bytes([0x06, 0, 1, 0, 0, 0, 0, 0]), 0, 'off'],
    ['call with dst', bytes([0x85, 0x01, 0, 0, 1, 0, 0, 0]), 0, 'dst'],
    ['call with unknown source', bytes([0x85, 0x30, 0, 0, 1, 0, 0, 0]), 0, 'src'],
    ['exit with imm', bytes([0x95, 0, 0, 0, 1, 0, 0, 0]), 0, 'imm'],
    ['register r11', bytes([0xbf, 0x0b, 0, 0, 0, 0, 0, 0]), 0, 'dst'],
    ['ldxdw with imm', bytes([0x79, 0x21, 0, 0, 1, 0, 0, 0]), 0, 'imm'],
    ['sign-extending 64-bit load', bytes([0x99, 0x21, 0, 0, 0, 0, 0, 0]), 0, 'code'],
    ['16-bit atomic', bytes([0xcb, 0x21, 0, 0, 0, 0, 0, 0]), 0, 'code'],
    ['unknown atomic op', bytes([0xdb, 0x21, 0, 0, 0x10, 0, 0, 0]), 0, 'imm'],
    ['xchg without fetch', bytes([0xdb, 0x21, 0, 0, 0xe0, 0, 0, 0]), 0, 'imm'],
    ['ld_abs dw', bytes([0x38, 0, 0, 0, 0, 0, 0, 0]), 0, 'code'],
    ['ld_imm64 unknown pseudo source', bytes([0x18, 0x71, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]), 0, 'src'],
    ['ld_imm64 second half with opcode', bytes([0x18, 0x01, 0, 0, 0, 0, 0, 0], [0x18, 0, 0, 0, 0, 0, 0, 0]), 0, 'next.code'],
    ['ld_imm64 second half with registers', bytes([0x18, 0x01, 0, 0, 0, 0, 0, 0], [0, 0x12, 0, 0, 0, 0, 0, 0]), 0, 'next.dst'],
    ['ld_imm64 map fd with upper imm', bytes([0x18, 0x11, 0, 0, 3, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0, 0]), 0, 'imm2'],
    ['ld_imm64 cut off', bytes([0x95, 0, 0, 0, 0, 0, 0, 0], [0x18, 0x01, 0, 0, 0, 0, 0, 0]), 1, 'imm2'],
    ['a partial slot', bytes([0x95, 0, 0, 0, 0, 0, 0, 0], [0x95, 0, 0]), 1, 'code'],
  ];

  it.each(cases)('%s', (_name, input, slot, field) => {
    let error: unknown;
    try {
      decode(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EncodingError);
    const e = error as EncodingError;
    expect([e.slot, e.field]).toEqual([slot, field]);
    expect(e.message).toMatch(new RegExp(`^instruction ${slot}: invalid ${field.replace('.', '\\.')}: .+`));
  });
});
