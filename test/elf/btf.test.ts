/**
 * BTF: what BtfBuilder encodes, read back by our reader and by bpftool;
 * `.BTF.ext` records through a round trip; and the running kernel's BTF
 * (/sys/kernel/btf/vmlinux) read lazily, checked against bpftool's dump of
 * it and used to check the helper table against this kernel's
 * `enum bpf_func_id`.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeBtfExt, encodeBtfExt } from '../../src/asm/btf/ext.js';
import { BtfError } from '../../src/asm/btf/errors.js';
import { enumValues, KERNEL_BTF_PATH, readKernelBtf } from '../../src/asm/btf/kernel.js';
import { Btf } from '../../src/asm/btf/reader.js';
import { IntEncoding, type BtfTypeSpec } from '../../src/asm/btf/types.js';
import { BtfBuilder } from '../../src/asm/btf/writer.js';
import { HELPERS, helperById } from '../../src/asm/helpers.js';
import { tempDir } from './support.js';

const temp = tempDir('btf');
afterAll(() => temp.dispose());

/** One type of every kind, referring to each other by id (1-based, in this order). */
const EVERY_KIND: BtfTypeSpec[] = [
  { kind: 'int', name: 'int', size: 4, bits: 32, bitOffset: 0, encoding: IntEncoding.signed }, // 1
  { kind: 'ptr', type: 1 }, // 2
  { kind: 'array', type: 1, indexType: 1, nelems: 7 }, // 3
  { kind: 'struct', name: 'pair', size: 8, members: [{ name: 'a', type: 1, bitOffset: 0 }, { name: 'b', type: 1, bitOffset: 32 }] }, // 4
  { kind: 'union', name: 'bits', size: 4, members: [{ name: 'low', type: 1, bitOffset: 0, bitfieldSize: 3 }, { name: 'all', type: 1, bitOffset: 0, bitfieldSize: 0 }] }, // 5
  { kind: 'enum', name: 'colour', size: 4, signed: true, values: [{ name: 'RED', value: -1 }, { name: 'BLUE', value: 2 }] }, // 6
  { kind: 'fwd', name: 'later', union: true }, // 7
  { kind: 'typedef', name: 'count_t', type: 1 }, // 8
  { kind: 'volatile', name: '', type: 8 }, // 9
  { kind: 'const', name: '', type: 9 }, // 10
  { kind: 'restrict', name: '', type: 2 }, // 11
  { kind: 'func_proto', returnType: 1, params: [{ name: 'x', type: 4 }, { name: '', type: 0 }] }, // 12
  { kind: 'func', name: 'f', type: 12, linkage: 'global' }, // 13
  { kind: 'var', name: 'v', type: 4, linkage: 'global_allocated' }, // 14
  { kind: 'datasec', name: '.data', size: 8, vars: [{ type: 14, offset: 0, size: 8 }] }, // 15
  { kind: 'float', name: 'double', size: 8 }, // 16
  { kind: 'decl_tag', name: 'tag', type: 4, componentIndex: 1 }, // 17
  { kind: 'type_tag', name: 'user', type: 1 }, // 18
  { kind: 'enum64', name: 'wide', size: 8, signed: false, values: [{ name: 'BIG', value: 0x1_0000_0001n }] }, // 19
];

describe('BTF we write', () => {
  const builder = new BtfBuilder();
  for (const type of EVERY_KIND) builder.add(type);
  const bytes = builder.encode();

  it('reads back type for type, every kind', () => {
    const btf = Btf.parse(bytes);
    expect(btf.count).toBe(EVERY_KIND.length);
    expect([...btf.types()]).toEqual(EVERY_KIND.map((type, i) => ({ ...type, id: i + 1 })));
    expect(btf.resolve(10)).toMatchObject({ kind: 'int', name: 'int' });
    expect([btf.sizeOf(3), btf.sizeOf(10), btf.sizeOf(14)]).toEqual([28, 4, 8]);
    expect(btf.find('struct', 'pair')?.id).toBe(4);
  });

  it('is what bpftool reads from a raw BTF file', () => {
    const dump = execFileSync('bpftool', ['btf', 'dump', 'file', temp.file('every-kind.btf', bytes)], { encoding: 'utf8', timeout: 30_000 });
    const expected = [
      "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
      "[2] PTR '(anon)' type_id=1",
      "[3] ARRAY '(anon)' type_id=1 index_type_id=1 nr_elems=7",
      "[4] STRUCT 'pair' size=8 vlen=2",
      "\t'a' type_id=1 bits_offset=0",
      "\t'b' type_id=1 bits_offset=32",
      "[5] UNION 'bits' size=4 vlen=2",
      "\t'low' type_id=1 bits_offset=0 bitfield_size=3",
      "\t'all' type_id=1 bits_offset=0",
      "[6] ENUM 'colour' encoding=SIGNED size=4 vlen=2",
      "\t'RED' val=-1",
      "\t'BLUE' val=2",
      "[7] FWD 'later' fwd_kind=union",
      "[8] TYPEDEF 'count_t' type_id=1",
      "[9] VOLATILE '(anon)' type_id=8",
      "[10] CONST '(anon)' type_id=9",
      "[11] RESTRICT '(anon)' type_id=2",
      "[12] FUNC_PROTO '(anon)' ret_type_id=1 vlen=2",
      "\t'x' type_id=4",
      "\t'(anon)' type_id=0",
      "[13] FUNC 'f' type_id=12 linkage=global",
      "[14] VAR 'v' type_id=4, linkage=global",
      "[15] DATASEC '.data' size=8 vlen=1",
      "\ttype_id=14 offset=0 size=8 (VAR 'v')",
      "[16] FLOAT 'double' size=8",
      "[17] DECL_TAG 'tag' type_id=4 component_idx=1",
      "[18] TYPE_TAG 'user' type_id=1",
      "[19] ENUM64 'wide' encoding=UNSIGNED size=8 vlen=1",
      "\t'BIG' val=4294967297ULL",
    ];
    expect(dump.trimEnd().split('\n')).toEqual(expected);
  });

  it('.BTF.ext func_info and line_info survive a round trip, strings shared with .BTF', () => {
    const withExt = new BtfBuilder();
    withExt.add(EVERY_KIND[0]!);
    const ext = {
      funcInfo: new Map([['xdp', [{ insnOffset: 0, typeId: 1 }]], ['.text', [{ insnOffset: 0, typeId: 1 }, { insnOffset: 48, typeId: 1 }]]]),
      lineInfo: new Map([['xdp', [{ insnOffset: 0, file: 'src/p.ts', text: '  b.mov(r0, 2);', line: 12, column: 3 }, { insnOffset: 8, file: 'src/p.ts', text: 'b.exit();', line: 1000, column: 0 }]]]),
    };
    const extBytes = encodeBtfExt(ext, withExt.strings);
    expect(decodeBtfExt(extBytes, Btf.parse(withExt.encode()))).toEqual(ext);
  });

  it('refuses malformed BTF with a BtfError at the offset', () => {
    const truncated = () => Btf.parse(bytes.subarray(0, bytes.byteLength - 40));
    expect(truncated).toThrow(BtfError);
    expect(truncated).toThrow(/runs past the end of the data/);
    const looping = new BtfBuilder();
    looping.add({ kind: 'typedef', name: 'a', type: 2 });
    looping.add({ kind: 'typedef', name: 'b', type: 1 });
    expect(() => Btf.parse(looping.encode()).resolve(1)).toThrow(/typedef\/modifier chain deeper than 32/);
  });
});

describe('the running kernel\'s BTF', () => {
  it(`${KERNEL_BTF_PATH}: indexed fast, enum bpf_func_id found without decoding the rest`, () => {
    const started = performance.now();
    const btf = readKernelBtf();
    const indexed = performance.now();
    const ids = enumValues(btf, 'bpf_func_id');
    const found = performance.now();
    console.log(`kernel BTF: ${btf.count} types indexed in ${(indexed - started).toFixed(0)} ms, enum bpf_func_id (${ids?.size} values) found in ${(found - indexed).toFixed(0)} ms`);
    expect(btf.count).toBeGreaterThan(10_000);
    expect(indexed - started).toBeLessThan(1000);
    expect(found - indexed).toBeLessThan(500);
  });

  it('agrees with bpftool on every type name and kind, and on struct xdp_md', () => {
    const btf = readKernelBtf();
    const dump = execFileSync('bpftool', ['btf', 'dump', 'file', KERNEL_BTF_PATH], { encoding: 'utf8', maxBuffer: 256 << 20, timeout: 60_000 });
    const theirs = [...dump.matchAll(/^\[(\d+)\] (\w+) '([^']*)'/gm)];
    expect(theirs).toHaveLength(btf.count);
    for (const [, id, kind, name] of theirs) {
      const ours = btf.type(Number(id));
      const ourName = 'name' in ours && ours.name !== '' ? ours.name : '(anon)';
      if (ours.kind.toUpperCase() !== kind || ourName !== name) expect(`${ours.kind} ${ourName}`, `type ${id}`).toBe(`${kind!.toLowerCase()} ${name}`);
    }
    const xdp = btf.find('struct', 'xdp_md')!;
    const block = new RegExp(`^\\[${xdp.id}\\] STRUCT 'xdp_md' size=(\\d+) vlen=(\\d+)\\n((?:\\t.*\\n)*)`, 'm').exec(dump)!;
    expect(xdp.size).toBe(Number(block[1]));
    expect(xdp.members.map((m) => `\t'${m.name}' type_id=${m.type} bits_offset=${m.bitOffset}`)).toEqual(block[3]!.trimEnd().split('\n'));
  });

  it('has every helper of our table that it knows under the same id, and our table names every helper it has', () => {
    const kernel = enumValues(readKernelBtf(), 'bpf_func_id')!;
    const helpers = new Map([...kernel].filter(([name]) => name !== 'BPF_FUNC_unspec' && name !== '__BPF_FUNC_MAX_ID').map(([name, id]) => [name.replace(/^BPF_FUNC_/, ''), id]));
    expect(helpers.size).toBeGreaterThan(200);
    for (const [name, id] of helpers) expect(helperById(id)?.name, `BPF_FUNC_${name}`).toBe(name);
    const known = HELPERS.filter((h) => helpers.has(h.name));
    for (const helper of known) expect(helpers.get(helper.name)).toBe(helper.id);
    console.log(`helper table: ${known.length} of ${HELPERS.length} helpers are in this kernel's enum bpf_func_id (${helpers.size} helpers), all with the same id`);
  });
});
