/**
 * BTF, the kernel's type format (Documentation/bpf/btf.rst,
 * include/uapi/linux/btf.h), as plain data. The writer takes these shapes
 * and the reader returns them, so a type survives a round trip unchanged.
 */

export const BTF_MAGIC = 0xeb9f;
export const BTF_VERSION = 1;
/** Size of `struct btf_header`. */
export const BTF_HEADER_SIZE = 24;
/** Size of `struct btf_type`: name_off, info, size/type. */
export const BTF_TYPE_SIZE = 12;

/** `BTF_KIND_*` numbers. */
export const BtfKind = {
  int: 1,
  ptr: 2,
  array: 3,
  struct: 4,
  union: 5,
  enum: 6,
  fwd: 7,
  typedef: 8,
  volatile: 9,
  const: 10,
  restrict: 11,
  func: 12,
  func_proto: 13,
  var: 14,
  datasec: 15,
  float: 16,
  decl_tag: 17,
  type_tag: 18,
  enum64: 19,
} as const;
export type BtfKindName = keyof typeof BtfKind;

export const kindByValue = new Map<number, BtfKindName>(Object.entries(BtfKind).map(([name, value]) => [value, name as BtfKindName]));

/** `BTF_FUNC_*`: the linkage of a FUNC. */
export const FuncLinkage = { static: 0, global: 1, extern: 2 } as const;
export type FuncLinkageName = keyof typeof FuncLinkage;

/** `BTF_VAR_*`: the linkage of a VAR. */
export const VarLinkage = { static: 0, global_allocated: 1, global_extern: 2 } as const;
export type VarLinkageName = keyof typeof VarLinkage;

/** `BTF_INT_*` encoding bits of an INT. */
export const IntEncoding = { signed: 1 << 0, char: 1 << 1, bool: 1 << 2 } as const;

export interface BtfMember {
  readonly name: string;
  readonly type: number;
  readonly bitOffset: number;
  /** Nonzero for a bitfield (the struct then has kind_flag set). */
  readonly bitfieldSize?: number;
}

export interface BtfParam {
  readonly name: string;
  /** 0 with an empty name marks a variadic prototype's `...`. */
  readonly type: number;
}

export interface BtfSecinfo {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
}

/** One type, without its id (ids are positions: the first type is 1, 0 is void). */
export type BtfTypeSpec =
  | { readonly kind: 'int'; readonly name: string; readonly size: number; readonly bits: number; readonly bitOffset?: number; readonly encoding: number }
  | { readonly kind: 'ptr'; readonly type: number }
  | { readonly kind: 'array'; readonly type: number; readonly indexType: number; readonly nelems: number }
  | { readonly kind: 'struct' | 'union'; readonly name: string; readonly size: number; readonly members: readonly BtfMember[] }
  | { readonly kind: 'enum'; readonly name: string; readonly size: number; readonly signed: boolean; readonly values: readonly { readonly name: string; readonly value: number }[] }
  | { readonly kind: 'enum64'; readonly name: string; readonly size: number; readonly signed: boolean; readonly values: readonly { readonly name: string; readonly value: bigint }[] }
  | { readonly kind: 'fwd'; readonly name: string; readonly union: boolean }
  | { readonly kind: 'typedef' | 'volatile' | 'const' | 'restrict' | 'type_tag'; readonly name: string; readonly type: number }
  | { readonly kind: 'func'; readonly name: string; readonly type: number; readonly linkage: FuncLinkageName }
  | { readonly kind: 'func_proto'; readonly returnType: number; readonly params: readonly BtfParam[] }
  | { readonly kind: 'var'; readonly name: string; readonly type: number; readonly linkage: VarLinkageName }
  | { readonly kind: 'datasec'; readonly name: string; readonly size: number; readonly vars: readonly BtfSecinfo[] }
  | { readonly kind: 'float'; readonly name: string; readonly size: number }
  | { readonly kind: 'decl_tag'; readonly name: string; readonly type: number; readonly componentIndex: number };

/** A type as read: its spec plus its id. */
export type BtfType = BtfTypeSpec & { readonly id: number };

/** The name of a type, or '' for kinds that have none (ptr, array, func_proto). */
export function typeName(type: BtfTypeSpec): string {
  return 'name' in type ? type.name : '';
}
