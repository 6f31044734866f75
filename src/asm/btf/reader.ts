/**
 * Reading BTF. Parsing is lazy so that the kernel's own BTF
 * (/sys/kernel/btf/vmlinux, several MB and 100,000+ types) costs one pass
 * over the type headers to index them; a type is decoded only when asked
 * for, and a search by kind and name decodes only the names of that kind.
 */
import { ByteReader } from './bytes.js';
import { BtfError } from './errors.js';
import {
  BTF_HEADER_SIZE,
  BTF_MAGIC,
  BTF_TYPE_SIZE,
  BTF_VERSION,
  FuncLinkage,
  VarLinkage,
  kindByValue,
  type BtfKindName,
  type BtfType,
  type FuncLinkageName,
  type VarLinkageName,
} from './types.js';

/** How deep typedef/modifier/array chains are followed, as libbpf bounds them: corrupt BTF may loop. */
const MAX_RESOLVE_DEPTH = 32;

/** Bytes that follow struct btf_type for each kind, given its vlen. */
function trailingBytes(kind: BtfKindName, vlen: number): number {
  switch (kind) {
    case 'int':
    case 'var':
    case 'decl_tag':
      return 4;
    case 'array':
      return 12;
    case 'struct':
    case 'union':
    case 'datasec':
    case 'enum64':
      return 12 * vlen;
    case 'enum':
    case 'func_proto':
      return 8 * vlen;
    default:
      return 0;
  }
}

const MODIFIERS: readonly BtfKindName[] = ['typedef', 'volatile', 'const', 'restrict', 'type_tag'];

export class Btf {
  readonly #data: ByteReader;
  readonly #stringStart: number;
  readonly #stringEnd: number;
  /** Byte offset of each type record; index 0 is type id 1. */
  readonly #offsets: Uint32Array;
  readonly #decoded = new Map<number, BtfType>();

  private constructor(data: ByteReader, stringStart: number, stringEnd: number, offsets: Uint32Array) {
    this.#data = data;
    this.#stringStart = stringStart;
    this.#stringEnd = stringEnd;
    this.#offsets = offsets;
  }

  /** Parse a BTF blob (the `.BTF` section of an object, or /sys/kernel/btf/vmlinux); throws BtfError. */
  static parse(bytes: Uint8Array): Btf {
    const data: ByteReader = new ByteReader(bytes, (offset, detail) => new BtfError(offset, detail));
    const magic = data.u16(0, 'BTF magic');
    if (magic === 0x9feb) data.fail(0, 'big-endian BTF is not supported');
    if (magic !== BTF_MAGIC) data.fail(0, `bad BTF magic 0x${magic.toString(16)} (expected 0x${BTF_MAGIC.toString(16)})`);
    const version = data.u8(2, 'BTF version');
    if (version !== BTF_VERSION) data.fail(2, `unsupported BTF version ${version}`);
    const headerLength = data.u32(4, 'BTF header length');
    if (headerLength < BTF_HEADER_SIZE) data.fail(4, `BTF header length ${headerLength} is shorter than the ${BTF_HEADER_SIZE}-byte header`);
    data.need(0, headerLength, 'BTF header');
    const section = (at: number, what: string): [number, number] => {
      const offset = data.u32(at, `${what} offset`);
      const length = data.u32(at + 4, `${what} length`);
      const start = headerLength + offset;
      data.need(start, length, what);
      return [start, start + length];
    };
    const [typeStart, typeEnd] = section(8, 'type section');
    const [stringStart, stringEnd] = section(16, 'string section');
    if (stringEnd > stringStart && (data.u8(stringStart, 'first string') !== 0 || data.u8(stringEnd - 1, 'last string') !== 0)) {
      data.fail(stringStart, 'the string section must start with an empty string and end with a NUL');
    }
    if ((typeStart - headerLength) % 4 !== 0) data.fail(8, 'the type section is not 4-byte aligned');

    let offsets = new Uint32Array(1024);
    let count = 0;
    for (let at = typeStart; at < typeEnd; ) {
      data.need(at, BTF_TYPE_SIZE, `type ${count + 1}`);
      const info = data.u32(at + 4, `info of type ${count + 1}`);
      const kind = kindByValue.get((info >>> 24) & 0x1f);
      if (kind === undefined) data.fail(at + 4, `type ${count + 1} has unknown kind ${(info >>> 24) & 0x1f}`);
      const size = BTF_TYPE_SIZE + trailingBytes(kind, info & 0xffff);
      if (at + size > typeEnd) data.fail(at, `type ${count + 1} (${kind}) runs past the end of the type section`);
      if (count === offsets.length) {
        const grown = new Uint32Array(offsets.length * 2);
        grown.set(offsets);
        offsets = grown;
      }
      offsets[count++] = at;
      at += size;
    }
    return new Btf(data, stringStart, stringEnd, offsets.slice(0, count));
  }

  /** Number of types; ids run from 1 to count (0 is void). */
  get count(): number {
    return this.#offsets.length;
  }

  /** The string at `offset` of the string section (names, and `.BTF.ext` file names and source lines). */
  string(offset: number): string {
    if (offset === 0) return '';
    return this.#data.cString(this.#stringStart + offset, this.#stringStart, this.#stringEnd, 'string');
  }

  #kindAt(at: number): BtfKindName {
    return kindByValue.get((this.#data.u32(at + 4, 'type info') >>> 24) & 0x1f)!;
  }

  /** The type with this id (1..count); BtfError for any other id. */
  type(id: number): BtfType {
    const cached = this.#decoded.get(id);
    if (cached) return cached;
    if (!Number.isInteger(id) || id < 1 || id > this.count) this.#data.fail(0, `type id ${id} does not exist (the BTF has ${this.count} types)`);
    const type = this.#decode(id, this.#offsets[id - 1]!);
    this.#decoded.set(id, type);
    return type;
  }

  /** Every type, decoded, in id order. */
  *types(): Generator<BtfType> {
    for (let id = 1; id <= this.count; id++) yield this.type(id);
  }

  /** The first type of `kind` named `name`, decoding only the names of that kind. */
  find<K extends BtfKindName>(kind: K, name: string): (BtfType & { readonly kind: K }) | undefined {
    for (let id = 1; id <= this.count; id++) {
      const at = this.#offsets[id - 1]!;
      if (this.#kindAt(at) !== kind) continue;
      if (this.string(this.#data.u32(at, 'name offset')) === name) return this.type(id) as BtfType & { readonly kind: K };
    }
    return undefined;
  }

  /** Follow typedefs and modifiers (const, volatile, ...) to the underlying type; undefined for void. */
  resolve(id: number): BtfType | undefined {
    let current = id;
    for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
      if (current === 0) return undefined;
      const type = this.type(current);
      if (!MODIFIERS.includes(type.kind)) return type;
      current = (type as { type: number }).type;
    }
    return this.#data.fail(0, `type ${id}: typedef/modifier chain deeper than ${MAX_RESOLVE_DEPTH} (a loop?)`);
  }

  /** Size in bytes of a type, as sizeof would give it. */
  sizeOf(id: number, depth = 0): number {
    if (depth > MAX_RESOLVE_DEPTH) this.#data.fail(0, `type ${id}: nested deeper than ${MAX_RESOLVE_DEPTH} (a loop?)`);
    const type = this.resolve(id);
    if (!type) this.#data.fail(0, `type ${id} is void, which has no size`);
    switch (type.kind) {
      case 'int':
      case 'struct':
      case 'union':
      case 'enum':
      case 'enum64':
      case 'datasec':
      case 'float':
        return type.size;
      case 'ptr':
        return 8;
      case 'array':
        return type.nelems * this.sizeOf(type.type, depth + 1);
      case 'var':
        return this.sizeOf(type.type, depth + 1);
      default:
        return this.#data.fail(this.#offsets[type.id - 1]!, `type ${type.id} (${type.kind}) has no size`);
    }
  }

  #decode(id: number, at: number): BtfType {
    const d = this.#data;
    const name = this.string(d.u32(at, 'name offset'));
    const info = d.u32(at + 4, 'type info');
    const kind = this.#kindAt(at);
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31 === 1;
    const sizeOrType = d.u32(at + 8, 'size/type');
    const body = at + BTF_TYPE_SIZE;
    const list = <T>(stride: number, read: (offset: number) => T): T[] => Array.from({ length: vlen }, (_, i) => read(body + i * stride));
    switch (kind) {
      case 'int': {
        const word = d.u32(body, 'int encoding');
        return { id, kind, name, size: sizeOrType, bits: word & 0xff, bitOffset: (word >>> 16) & 0xff, encoding: (word >>> 24) & 0x0f };
      }
      case 'ptr':
        return { id, kind, type: sizeOrType };
      case 'array':
        return { id, kind, type: d.u32(body, 'array element type'), indexType: d.u32(body + 4, 'array index type'), nelems: d.u32(body + 8, 'array length') };
      case 'struct':
      case 'union':
        return {
          id,
          kind,
          name,
          size: sizeOrType,
          members: list(12, (m) => {
            const offset = d.u32(m + 8, 'member offset');
            const member = { name: this.string(d.u32(m, 'member name')), type: d.u32(m + 4, 'member type') };
            return kindFlag ? { ...member, bitOffset: offset & 0xffffff, bitfieldSize: offset >>> 24 } : { ...member, bitOffset: offset };
          }),
        };
      case 'enum':
        return {
          id,
          kind,
          name,
          size: sizeOrType,
          signed: kindFlag,
          values: list(8, (v) => ({ name: this.string(d.u32(v, 'enumerator name')), value: kindFlag ? d.i32(v + 4, 'enumerator') : d.u32(v + 4, 'enumerator') })),
        };
      case 'enum64':
        return {
          id,
          kind,
          name,
          size: sizeOrType,
          signed: kindFlag,
          values: list(12, (v) => {
            const bits = (BigInt(d.u32(v + 8, 'enumerator high')) << 32n) | BigInt(d.u32(v + 4, 'enumerator low'));
            return { name: this.string(d.u32(v, 'enumerator name')), value: kindFlag ? BigInt.asIntN(64, bits) : bits };
          }),
        };
      case 'fwd':
        return { id, kind, name, union: kindFlag };
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
      case 'type_tag':
        return { id, kind, name, type: sizeOrType };
      case 'func':
        return { id, kind, name, type: sizeOrType, linkage: linkageName(FuncLinkage, vlen, () => d.fail(at + 4, `func ${name}: unknown linkage ${vlen}`)) as FuncLinkageName };
      case 'func_proto':
        return { id, kind, returnType: sizeOrType, params: list(8, (p) => ({ name: this.string(d.u32(p, 'parameter name')), type: d.u32(p + 4, 'parameter type') })) };
      case 'var': {
        const linkage = d.u32(body, 'var linkage');
        return { id, kind, name, type: sizeOrType, linkage: linkageName(VarLinkage, linkage, () => d.fail(body, `var ${name}: unknown linkage ${linkage}`)) as VarLinkageName };
      }
      case 'datasec':
        return { id, kind, name, size: sizeOrType, vars: list(12, (v) => ({ type: d.u32(v, 'datasec var type'), offset: d.u32(v + 4, 'datasec var offset'), size: d.u32(v + 8, 'datasec var size') })) };
      case 'float':
        return { id, kind, name, size: sizeOrType };
      case 'decl_tag':
        return { id, kind, name, type: sizeOrType, componentIndex: d.i32(body, 'decl_tag component') };
    }
  }
}

function linkageName(table: Readonly<Record<string, number>>, value: number, unknown: () => never): string {
  for (const [name, v] of Object.entries(table)) if (v === value) return name;
  return unknown();
}
