/**
 * BTF-defined maps, the `.maps` convention of libbpf 1.x: each map is a
 * global variable in section `.maps` whose type is an anonymous struct,
 * and the struct's members carry the map's parameters in their types:
 *
 *     struct { __uint(type, BPF_MAP_TYPE_HASH);   // int (*type)[1]
 *              __type(key, __u32);                // __u32 *key
 *              __type(value, __u64);              // __u64 *value
 *              __uint(max_entries, 16);           // int (*max_entries)[16]
 *     } counts SEC(".maps");
 *
 * A number is the length of an array pointed to; a key or value type is the
 * type pointed to. The variable's bytes are all zero.
 */
import { KernelMapType, MapTypeValue } from '../../loader/uapi.js';
import type { Btf } from '../btf/reader.js';
import type { BtfBuilder } from '../btf/writer.js';
import { IntEncoding, type BtfType } from '../btf/types.js';
import type { MapDefinition, MapType } from '../program.js';

/** Each member is a pointer. */
const MEMBER_BYTES = 8;

/** Map types whose keys and values the kernel refuses to describe with BTF: their sizes go in `key_size`/`value_size`. */
const SIZES_ONLY: readonly MapType[] = ['prog_array', 'ringbuf'];

function intType(b: BtfBuilder, name: string, bytes: number, signed: boolean): number {
  return b.intern({ kind: 'int', name, size: bytes, bits: bytes * 8, encoding: signed ? IntEncoding.signed : 0 });
}

/** `int (*name)[value]`: how `__uint(name, value)` encodes a number. */
function numberMember(b: BtfBuilder, name: string, value: number, index: number) {
  const array = b.intern({ kind: 'array', type: intType(b, 'int', 4, true), indexType: intType(b, '__ARRAY_SIZE_TYPE__', 4, false), nelems: value });
  return { name, type: b.intern({ kind: 'ptr', type: array }), bitOffset: index * MEMBER_BYTES * 8 };
}

const UNSIGNED_NAMES: Readonly<Record<number, string>> = { 1: 'unsigned char', 2: 'unsigned short', 4: 'unsigned int', 8: 'unsigned long long' };

/** A type of `bytes` bytes for keys and values: `__u32` and friends, or `__u8[n]` for other sizes. */
function sizedType(b: BtfBuilder, bytes: number): number {
  const base = UNSIGNED_NAMES[bytes];
  if (base !== undefined) return b.intern({ kind: 'typedef', name: `__u${bytes * 8}`, type: intType(b, base, bytes, false) });
  const u8 = sizedType(b, 1);
  return b.intern({ kind: 'array', type: u8, indexType: intType(b, '__ARRAY_SIZE_TYPE__', 4, false), nelems: bytes });
}

/** Add the struct describing `map`; returns its type id and size in bytes. */
export function addMapStruct(b: BtfBuilder, map: MapDefinition): { type: number; size: number } {
  const members = [numberMember(b, 'type', MapTypeValue[map.type].value, 0)];
  const add = (name: string, type: number) => members.push({ name, type, bitOffset: members.length * MEMBER_BYTES * 8 });
  if (SIZES_ONLY.includes(map.type)) {
    if (map.keySize !== 0) members.push(numberMember(b, 'key_size', map.keySize, members.length));
    if (map.valueSize !== 0) members.push(numberMember(b, 'value_size', map.valueSize, members.length));
  } else {
    add('key', b.intern({ kind: 'ptr', type: sizedType(b, map.keySize) }));
    add('value', b.intern({ kind: 'ptr', type: sizedType(b, map.valueSize) }));
  }
  members.push(numberMember(b, 'max_entries', map.maxEntries, members.length));
  if (map.flags) members.push(numberMember(b, 'map_flags', map.flags, members.length));
  const size = members.length * MEMBER_BYTES;
  return { type: b.add({ kind: 'struct', name: '', size, members }), size };
}

const MAP_TYPE_BY_VALUE = new Map<number, MapType>(Object.entries(MapTypeValue).map(([name, v]) => [v.value, name as MapType]));
const KERNEL_MAP_TYPE_BY_VALUE = new Map<number, string>(Object.entries(KernelMapType).map(([name, v]) => [v.value, name]));

/**
 * The MapDefinition of a `.maps` variable of type `typeId`; `fail` reports
 * what is wrong with it (the caller knows the section and offset).
 */
export function mapFromStruct(btf: Btf, name: string, typeId: number, fail: (detail: string) => never): MapDefinition {
  const struct = btf.resolve(typeId);
  if (!struct || struct.kind !== 'struct') return fail(`map ${name}: its BTF type is ${struct ? struct.kind : 'void'}, not a struct`);
  const fields = new Map<string, number>();
  let keyType: number | undefined;
  let valueType: number | undefined;
  for (const member of struct.members) {
    const pointer = btf.resolve(member.type);
    if (!pointer || pointer.kind !== 'ptr') return fail(`map ${name}: member ${member.name} is not a pointer (__uint or __type)`);
    switch (member.name) {
      case 'key':
        keyType = pointer.type;
        break;
      case 'value':
        valueType = pointer.type;
        break;
      case 'type':
      case 'max_entries':
      case 'map_flags':
      case 'key_size':
      case 'value_size':
      case 'numa_node':
      case 'map_extra':
      case 'pinning': {
        const array: BtfType | undefined = btf.resolve(pointer.type);
        if (!array || array.kind !== 'array') return fail(`map ${name}: member ${member.name} does not point to an array (__uint)`);
        fields.set(member.name, array.nelems);
        break;
      }
      case 'values':
        return fail(`map ${name}: initial values (inner maps or program arrays) are not supported`);
      default:
        return fail(`map ${name}: unknown member '${member.name}'`);
    }
  }
  for (const unsupported of ['numa_node', 'map_extra', 'pinning'] as const) {
    if (fields.get(unsupported)) return fail(`map ${name}: ${unsupported} ${fields.get(unsupported)} is not supported`);
  }
  const typeValue = fields.get('type') ?? fail(`map ${name}: no 'type' member`);
  const type = MAP_TYPE_BY_VALUE.get(typeValue);
  if (!type) {
    const known = KERNEL_MAP_TYPE_BY_VALUE.get(typeValue);
    return fail(`map ${name}: map type ${typeValue}${known ? ` (${known})` : ''} is not one bpfgen supports (${[...MAP_TYPE_BY_VALUE.values()].join(', ')})`);
  }
  const size = (member: 'key' | 'value', typeOf: number | undefined): number => {
    const declared = fields.get(`${member}_size`);
    const fromType = typeOf === undefined ? undefined : btf.sizeOf(typeOf);
    if (declared !== undefined && fromType !== undefined && declared !== fromType) {
      return fail(`map ${name}: ${member}_size ${declared} differs from the ${fromType}-byte ${member} type`);
    }
    return declared ?? fromType ?? 0;
  };
  const flags = fields.get('map_flags') ?? 0;
  return {
    name,
    type,
    keySize: size('key', keyType),
    valueSize: size('value', valueType),
    maxEntries: fields.get('max_entries') ?? fail(`map ${name}: no 'max_entries' member`),
    ...(flags ? { flags } : {}),
  };
}
