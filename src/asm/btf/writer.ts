/**
 * Encoding BTF: types are added one at a time and get consecutive ids
 * (1, 2, ...); `encode()` lays out the header, the type records and the
 * string table as the kernel's BTF_LOAD and libbpf read them.
 */
import { ByteWriter, StringTable } from './bytes.js';
import { BTF_HEADER_SIZE, BTF_MAGIC, BTF_VERSION, BtfKind, FuncLinkage, VarLinkage, type BtfTypeSpec } from './types.js';

/** `info` of struct btf_type: vlen in bits 0-15, kind in bits 24-28, kind_flag in bit 31. */
function info(kind: number, vlen: number, kindFlag: boolean): number {
  return ((kindFlag ? 1 : 0) << 31) | (kind << 24) | (vlen & 0xffff);
}

export class BtfBuilder {
  readonly #types: BtfTypeSpec[] = [];
  readonly #ids = new Map<string, number>();
  /** Shared with `.BTF.ext`, whose records name files and source lines by offsets into this table. */
  readonly strings = new StringTable();

  /** Add a type and return its id. */
  add(type: BtfTypeSpec): number {
    this.#types.push(type);
    return this.#types.length;
  }

  /**
   * Add a type unless an identical one was added through `intern` before:
   * base types and pointers are shared by every map and function that uses them.
   */
  intern(type: BtfTypeSpec): number {
    const key = JSON.stringify(type, (_, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
    const known = this.#ids.get(key);
    if (known !== undefined) return known;
    const id = this.add(type);
    this.#ids.set(key, id);
    return id;
  }

  get count(): number {
    return this.#types.length;
  }

  encode(): Uint8Array {
    const types = new ByteWriter();
    for (const type of this.#types) this.#encodeType(types, type);
    const typeBytes = types.finish();
    const stringBytes = this.strings.finish();
    return new ByteWriter()
      .u16(BTF_MAGIC)
      .u8(BTF_VERSION)
      .u8(0)
      .u32(BTF_HEADER_SIZE)
      .u32(0)
      .u32(typeBytes.byteLength)
      .u32(typeBytes.byteLength)
      .u32(stringBytes.byteLength)
      .bytes(typeBytes)
      .bytes(stringBytes)
      .finish();
  }

  #encodeType(out: ByteWriter, type: BtfTypeSpec): void {
    const name = (text: string) => this.strings.add(text);
    const kind = BtfKind[type.kind];
    switch (type.kind) {
      case 'int':
        out.u32(name(type.name)).u32(info(kind, 0, false)).u32(type.size);
        out.u32(((type.encoding & 0x0f) << 24) | (((type.bitOffset ?? 0) & 0xff) << 16) | (type.bits & 0xff));
        return;
      case 'ptr':
        out.u32(0).u32(info(kind, 0, false)).u32(type.type);
        return;
      case 'array':
        out.u32(0).u32(info(kind, 0, false)).u32(0);
        out.u32(type.type).u32(type.indexType).u32(type.nelems);
        return;
      case 'struct':
      case 'union': {
        const bitfields = type.members.some((m) => (m.bitfieldSize ?? 0) !== 0);
        out.u32(name(type.name)).u32(info(kind, type.members.length, bitfields)).u32(type.size);
        for (const member of type.members) {
          const offset = bitfields ? ((member.bitfieldSize ?? 0) << 24) | (member.bitOffset & 0xffffff) : member.bitOffset;
          out.u32(name(member.name)).u32(member.type).u32(offset);
        }
        return;
      }
      case 'enum':
        out.u32(name(type.name)).u32(info(kind, type.values.length, type.signed)).u32(type.size);
        for (const value of type.values) out.u32(name(value.name)).i32(value.value | 0);
        return;
      case 'enum64':
        out.u32(name(type.name)).u32(info(kind, type.values.length, type.signed)).u32(type.size);
        for (const value of type.values) {
          const bits = BigInt.asUintN(64, value.value);
          out.u32(name(value.name)).u32(Number(bits & 0xffffffffn)).u32(Number(bits >> 32n));
        }
        return;
      case 'fwd':
        out.u32(name(type.name)).u32(info(kind, 0, type.union)).u32(0);
        return;
      case 'typedef':
      case 'volatile':
      case 'const':
      case 'restrict':
      case 'type_tag':
        out.u32(name(type.name)).u32(info(kind, 0, false)).u32(type.type);
        return;
      case 'func':
        out.u32(name(type.name)).u32(info(kind, FuncLinkage[type.linkage], false)).u32(type.type);
        return;
      case 'func_proto':
        out.u32(0).u32(info(kind, type.params.length, false)).u32(type.returnType);
        for (const param of type.params) out.u32(name(param.name)).u32(param.type);
        return;
      case 'var':
        out.u32(name(type.name)).u32(info(kind, 0, false)).u32(type.type);
        out.u32(VarLinkage[type.linkage]);
        return;
      case 'datasec':
        out.u32(name(type.name)).u32(info(kind, type.vars.length, false)).u32(type.size);
        for (const v of type.vars) out.u32(v.type).u32(v.offset).u32(v.size);
        return;
      case 'float':
        out.u32(name(type.name)).u32(info(kind, 0, false)).u32(type.size);
        return;
      case 'decl_tag':
        out.u32(name(type.name)).u32(info(kind, 0, false)).u32(type.type);
        out.i32(type.componentIndex);
        return;
    }
  }
}
