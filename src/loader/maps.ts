/**
 * Maps: creation from a MapDefinition, typed element access through codecs,
 * iteration, pinning. Per-CPU maps read and write one value per possible CPU.
 */
import { readFileSync } from 'node:fs';
import type { MapDefinition, MapType } from '../asm/program.js';
import {
  mapCreateAttr,
  mapDeleteElemAttr,
  mapGetNextKeyAttr,
  mapLookupElemAttr,
  mapUpdateElemAttr,
  NATIVE_LITTLE_ENDIAN,
  objGetAttr,
  objPinAttr,
} from './attr.js';
import { BpfError } from './errors.js';
import { bpfObjectKind, mapInfo, type MapInfo } from './info.js';
import { bpfCall, bpfFd, OwnedFd } from './syscall.js';
import { UpdateFlag, type UpdateMode } from './uapi.js';

/** Converts keys or values to the bytes the kernel stores, and back. */
export interface Codec<T> {
  /** Encoded size in bytes. */
  readonly size: number;
  /** Alignment inside a struct. */
  readonly align: number;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

function scalar<T>(size: number, write: (view: DataView, value: T) => void, read: (view: DataView) => T): Codec<T> {
  return {
    size,
    align: size,
    encode(value) {
      const bytes = new Uint8Array(size);
      write(new DataView(bytes.buffer), value);
      return bytes;
    },
    decode(bytes) {
      return read(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    },
  };
}

/** Codecs for map keys and values, in the machine's byte order (as programs see them). */
export const codecs = {
  u8: scalar<number>(1, (v, x) => v.setUint8(0, x), (v) => v.getUint8(0)),
  u16: scalar<number>(2, (v, x) => v.setUint16(0, x, NATIVE_LITTLE_ENDIAN), (v) => v.getUint16(0, NATIVE_LITTLE_ENDIAN)),
  u32: scalar<number>(4, (v, x) => v.setUint32(0, x, NATIVE_LITTLE_ENDIAN), (v) => v.getUint32(0, NATIVE_LITTLE_ENDIAN)),
  i32: scalar<number>(4, (v, x) => v.setInt32(0, x, NATIVE_LITTLE_ENDIAN), (v) => v.getInt32(0, NATIVE_LITTLE_ENDIAN)),
  u64: scalar<bigint>(8, (v, x) => v.setBigUint64(0, x, NATIVE_LITTLE_ENDIAN), (v) => v.getBigUint64(0, NATIVE_LITTLE_ENDIAN)),
  i64: scalar<bigint>(8, (v, x) => v.setBigInt64(0, x, NATIVE_LITTLE_ENDIAN), (v) => v.getBigInt64(0, NATIVE_LITTLE_ENDIAN)),

  /** Raw bytes of a fixed size. */
  bytes(size: number): Codec<Uint8Array> {
    return {
      size,
      align: 1,
      encode(value) {
        if (value.byteLength !== size) throw new RangeError(`expected ${size} bytes, got ${value.byteLength}`);
        return Uint8Array.from(value);
      },
      decode: (bytes) => Uint8Array.from(bytes),
    };
  },

  /** A C struct: fields in declaration order at their natural alignment, size padded to the largest. */
  struct<Fields extends Record<string, Codec<unknown>>>(fields: Fields): Codec<{ [K in keyof Fields]: Fields[K] extends Codec<infer T> ? T : never }> {
    type Value = { [K in keyof Fields]: Fields[K] extends Codec<infer T> ? T : never };
    const layout: [string, Codec<unknown>, number][] = [];
    let offset = 0;
    let align = 1;
    for (const [name, codec] of Object.entries(fields)) {
      offset = Math.ceil(offset / codec.align) * codec.align;
      layout.push([name, codec, offset]);
      offset += codec.size;
      align = Math.max(align, codec.align);
    }
    const size = Math.ceil(offset / align) * align;
    return {
      size,
      align,
      encode(value) {
        const bytes = new Uint8Array(size);
        for (const [name, codec, at] of layout) bytes.set(codec.encode((value as Record<string, unknown>)[name]), at);
        return bytes;
      },
      decode(bytes) {
        const out: Record<string, unknown> = {};
        for (const [name, codec, at] of layout) out[name] = codec.decode(bytes.subarray(at, at + codec.size));
        return out as Value;
      },
    };
  },
};

/** Thrown before asking the kernel, for definitions it would reject with a bare EINVAL. */
export class MapDefinitionError extends Error {
  constructor(
    readonly map: string,
    readonly field: keyof MapDefinition | 'codec',
    readonly detail: string,
  ) {
    super(`map ${map}: ${field}: ${detail}`);
    this.name = 'MapDefinitionError';
  }
}

const PER_CPU_TYPES = ['percpu_hash', 'percpu_array', 'lru_percpu_hash'] as const;
type PerCpuType = (typeof PER_CPU_TYPES)[number];
type PlainType = Exclude<MapType, PerCpuType | 'ringbuf'>;
const isPerCpu = (type: MapType): type is PerCpuType => (PER_CPU_TYPES as readonly MapType[]).includes(type);

let cachedCpus: readonly number[] | undefined;

/** Possible CPUs (/sys/devices/system/cpu/possible): per-CPU values come one per entry, in this order. */
export function possibleCpus(): readonly number[] {
  if (cachedCpus) return cachedCpus;
  const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  const cpus: number[] = [];
  for (const range of text.split(',')) {
    const [first, last] = range.split('-').map(Number) as [number, number | undefined];
    for (let cpu = first; cpu <= (last ?? first); cpu++) cpus.push(cpu);
  }
  cachedCpus = cpus;
  return cpus;
}

function checkDefinition(def: MapDefinition): void {
  const fail = (field: keyof MapDefinition, detail: string): never => {
    throw new MapDefinitionError(def.name, field, detail);
  };
  for (const field of ['keySize', 'valueSize', 'maxEntries'] as const) {
    if (!Number.isInteger(def[field]) || def[field] < 0 || def[field] > 0xffffffff) fail(field, `${def[field]} is not an unsigned 32-bit integer`);
  }
  if (def.type === 'ringbuf') {
    if (def.keySize !== 0 || def.valueSize !== 0) fail(def.keySize !== 0 ? 'keySize' : 'valueSize', 'a ringbuf has no keys or values: both sizes must be 0');
    const size = def.maxEntries;
    if (size < 4096 || (size & (size - 1)) !== 0) fail('maxEntries', `a ringbuf's size in bytes must be a power of 2 and a multiple of the page size, got ${size}`);
    return;
  }
  if (def.maxEntries === 0) fail('maxEntries', 'must be at least 1');
  if (def.valueSize === 0) fail('valueSize', 'must be at least 1 byte');
  if (def.type === 'array' || def.type === 'percpu_array' || def.type === 'prog_array') {
    if (def.keySize !== 4) fail('keySize', `${def.type} keys are u32 indexes: keySize must be 4, got ${def.keySize}`);
  } else if (def.keySize === 0) {
    fail('keySize', 'must be at least 1 byte');
  }
  if (def.type === 'prog_array' && def.valueSize !== 4) fail('valueSize', `prog_array values are program fds: valueSize must be 4, got ${def.valueSize}`);
}

/** What every map handle has: the descriptor, the definition, pinning and closing. */
export abstract class MapHandle {
  constructor(
    protected readonly owned: OwnedFd,
    readonly definition: MapDefinition,
  ) {}

  get fd(): number {
    return this.owned.value;
  }

  get name(): string {
    return this.definition.name;
  }

  get type(): MapType {
    return this.definition.type;
  }

  get closed(): boolean {
    return this.owned.closed;
  }

  info(): MapInfo {
    return mapInfo(this.fd);
  }

  /** Pin to a path in a bpf filesystem, so that the map outlives this process. */
  pin(path: string): void {
    bpfCall(objPinAttr(this.fd, path), pinHints(path));
  }

  close(): void {
    this.owned.close();
  }
}

export function pinHints(path: string) {
  return {
    EPERM: `${path} is not inside a bpf filesystem (mount one with \`mount -t bpf bpf DIR\`)`,
    ENOENT: `the directory of ${path} does not exist`,
    EEXIST: `${path} already exists`,
  };
}

/** Key/value element access shared by plain and per-CPU maps; `V` is what get() returns. */
abstract class ElementMap<K, V> extends MapHandle {
  constructor(
    owned: OwnedFd,
    definition: MapDefinition,
    protected readonly keyCodec: Codec<K>,
  ) {
    super(owned, definition);
    if (keyCodec.size !== definition.keySize) {
      throw new MapDefinitionError(definition.name, 'codec', `key codec encodes ${keyCodec.size} bytes, the map's keys have ${definition.keySize}`);
    }
  }

  /** Bytes the kernel reads or writes for one value. */
  protected abstract readonly valueBytes: number;
  protected abstract encodeValue(value: V): Uint8Array;
  protected abstract decodeValue(bytes: Uint8Array): V;

  private encodeKey(key: K): Uint8Array {
    return this.keyCodec.encode(key);
  }

  get(key: K): V | undefined {
    const value = new Uint8Array(this.valueBytes);
    try {
      bpfCall(mapLookupElemAttr(this.fd, this.encodeKey(key), value), {
        EOPNOTSUPP: `${this.type} maps have no lookup from user space`,
        ENOTSUPP: `${this.type} maps have no lookup from user space`,
      });
    } catch (error) {
      if (error instanceof BpfError && error.code === 'ENOENT') return undefined;
      throw error;
    }
    return this.decodeValue(value);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  /** `mode`: 'any' creates or replaces, 'noexist' only creates, 'exist' only replaces. */
  set(key: K, value: V, mode: UpdateMode = 'any'): void {
    bpfCall(mapUpdateElemAttr(this.fd, this.encodeKey(key), this.encodeValue(value), UpdateFlag[mode]), {
      E2BIG: `map ${this.name} is full (maxEntries ${this.definition.maxEntries}), or the index is beyond it`,
      EEXIST: `map ${this.name} already has this key (set with mode 'noexist')`,
      ENOENT: `map ${this.name} has no such key (set with mode 'exist')`,
      EINVAL: `map ${this.name} rejected update mode '${mode}' (${this.type} maps accept ${this.type.includes('array') ? "'any' and 'exist'" : "'any', 'noexist' and 'exist'"})`,
    });
  }

  /** Returns false when the key was absent. */
  delete(key: K): boolean {
    try {
      bpfCall(mapDeleteElemAttr(this.fd, this.encodeKey(key)), { EINVAL: `${this.type} elements cannot be deleted; set them to zero instead` });
      return true;
    } catch (error) {
      if (error instanceof BpfError && error.code === 'ENOENT') return false;
      throw error;
    }
  }

  /**
   * Keys in the kernel's order. Deleting the key just returned is safe;
   * other concurrent changes may make the walk restart or skip keys, as for
   * any user of BPF_MAP_GET_NEXT_KEY.
   */
  *keys(): Generator<K> {
    let previous: Uint8Array | undefined;
    for (;;) {
      const next = new Uint8Array(this.definition.keySize);
      try {
        bpfCall(mapGetNextKeyAttr(this.fd, previous, next));
      } catch (error) {
        if (error instanceof BpfError && error.code === 'ENOENT') return;
        throw error;
      }
      yield this.keyCodec.decode(next);
      previous = next;
    }
  }

  /** Entries whose key vanished between listing and lookup are skipped. */
  *entries(): Generator<[K, V]> {
    for (const key of this.keys()) {
      const value = this.get(key);
      if (value !== undefined) yield [key, value];
    }
  }

  [Symbol.iterator](): Generator<[K, V]> {
    return this.entries();
  }
}

/** A hash, array or LRU hash map. */
export class BpfMap<K = Uint8Array, V = Uint8Array> extends ElementMap<K, V> {
  protected readonly valueBytes: number;

  constructor(
    owned: OwnedFd,
    definition: MapDefinition,
    keyCodec: Codec<K>,
    private readonly valueCodec: Codec<V>,
  ) {
    super(owned, definition, keyCodec);
    if (valueCodec.size !== definition.valueSize) {
      throw new MapDefinitionError(definition.name, 'codec', `value codec encodes ${valueCodec.size} bytes, the map's values have ${definition.valueSize}`);
    }
    this.valueBytes = definition.valueSize;
  }

  protected encodeValue(value: V): Uint8Array {
    return this.valueCodec.encode(value);
  }

  protected decodeValue(bytes: Uint8Array): V {
    return this.valueCodec.decode(bytes);
  }

  /** The same map seen through other codecs; closing either closes both. */
  withCodecs<K2, V2>(key: Codec<K2>, value: Codec<V2>): BpfMap<K2, V2> {
    return new BpfMap(this.owned, this.definition, key, value);
  }
}

/** A per-CPU hash, array or LRU hash: each key holds one value per possible CPU. */
export class PerCpuMap<K = Uint8Array, V = Uint8Array> extends ElementMap<K, V[]> {
  protected readonly valueBytes: number;
  /** The kernel lays per-CPU values out 8-byte aligned. */
  private readonly stride: number;
  readonly cpus: readonly number[];

  constructor(
    owned: OwnedFd,
    definition: MapDefinition,
    keyCodec: Codec<K>,
    private readonly valueCodec: Codec<V>,
  ) {
    super(owned, definition, keyCodec);
    if (valueCodec.size !== definition.valueSize) {
      throw new MapDefinitionError(definition.name, 'codec', `value codec encodes ${valueCodec.size} bytes, the map's values have ${definition.valueSize}`);
    }
    this.cpus = possibleCpus();
    this.stride = Math.ceil(definition.valueSize / 8) * 8;
    this.valueBytes = this.stride * this.cpus.length;
  }

  /** `values[i]` goes to the CPU `cpus[i]`. */
  protected encodeValue(values: V[]): Uint8Array {
    if (values.length !== this.cpus.length) {
      throw new RangeError(`map ${this.name} is per-CPU: expected ${this.cpus.length} values (one per possible CPU), got ${values.length}`);
    }
    const bytes = new Uint8Array(this.valueBytes);
    values.forEach((value, i) => bytes.set(this.valueCodec.encode(value), i * this.stride));
    return bytes;
  }

  protected decodeValue(bytes: Uint8Array): V[] {
    return this.cpus.map((_, i) => this.valueCodec.decode(bytes.subarray(i * this.stride, i * this.stride + this.definition.valueSize)));
  }

  withCodecs<K2, V2>(key: Codec<K2>, value: Codec<V2>): PerCpuMap<K2, V2> {
    return new PerCpuMap(this.owned, this.definition, key, value);
  }
}

/**
 * A BPF ring buffer, created for programs to write records into. It has no
 * elements to look up; its records are read by mapping it into memory.
 */
export class RingBufferMap extends MapHandle {}

export type AnyMap = BpfMap<unknown, unknown> | PerCpuMap<unknown, unknown> | RingBufferMap;

export interface MapCodecs<K, V> {
  readonly key?: Codec<K>;
  readonly value?: Codec<V>;
}

/** Wrap an open map descriptor in the handle its type calls for. */
export function mapHandle<K, V>(owned: OwnedFd, def: MapDefinition, codecs: MapCodecs<K, V> = {}): AnyMap {
  if (def.type === 'ringbuf') return new RingBufferMap(owned, def);
  const key = codecs.key ?? rawCodec<K>(def.keySize);
  const value = codecs.value ?? rawCodec<V>(def.valueSize);
  return isPerCpu(def.type) ? new PerCpuMap(owned, def, key, value) : new BpfMap(owned, def, key, value);
}

/** Raw bytes, for callers that gave no codec; `T` is Uint8Array unless the caller named another type. */
export function rawCodec<T = Uint8Array>(size: number): Codec<T> {
  return codecs.bytes(size) as unknown as Codec<T>;
}

const createHints = (def: MapDefinition) => ({
  EINVAL: `the kernel rejected map ${def.name} (${def.type}, key ${def.keySize} B, value ${def.valueSize} B, ${def.maxEntries} entries, flags 0x${(def.flags ?? 0).toString(16)})`,
  E2BIG: `map ${def.name} is larger than the kernel allows (key ${def.keySize} B, value ${def.valueSize} B, ${def.maxEntries} entries)`,
  ENOMEM: `not enough kernel memory for map ${def.name} (before Linux 5.11, raise RLIMIT_MEMLOCK with \`ulimit -l\`)`,
});

/** Create a map in the kernel; the handle owns its descriptor. */
export function createMap<K = Uint8Array, V = Uint8Array>(def: MapDefinition & { type: PlainType }, codecs?: MapCodecs<K, V>): BpfMap<K, V>;
export function createMap<K = Uint8Array, V = Uint8Array>(def: MapDefinition & { type: PerCpuType }, codecs?: MapCodecs<K, V>): PerCpuMap<K, V>;
export function createMap(def: MapDefinition & { type: 'ringbuf' }): RingBufferMap;
export function createMap(def: MapDefinition, codecs?: MapCodecs<unknown, unknown>): AnyMap;
export function createMap(def: MapDefinition, codecs: MapCodecs<unknown, unknown> = {}): AnyMap {
  checkDefinition(def);
  const owned = bpfFd(mapCreateAttr(def), `map ${def.name}`, createHints(def));
  try {
    return mapHandle(owned, def, codecs);
  } catch (error) {
    owned.close();
    throw error;
  }
}

/** Open a map pinned in a bpf filesystem; its definition is read back from the kernel. */
export function openPinnedMap(path: string, codecs: MapCodecs<unknown, unknown> = {}): AnyMap {
  const owned = bpfFd(objGetAttr(path), `map pinned at ${path}`, {
    ENOENT: `nothing is pinned at ${path}`,
    EPERM: `${path} is not inside a bpf filesystem`,
    EINVAL: `${path} is not a pinned bpf object`,
  });
  try {
    const kind = bpfObjectKind(owned.value);
    if (kind !== 'map') throw new Error(`${path} holds a bpf ${kind}, not a map`);
    const info = mapInfo(owned.value);
    if (!info.typeName) throw new Error(`${path} holds a map of kernel type ${info.type}, which bpfgen does not handle`);
    const def: MapDefinition = { name: info.name, type: info.typeName, keySize: info.keySize, valueSize: info.valueSize, maxEntries: info.maxEntries, flags: info.flags };
    return mapHandle(owned, def, codecs);
  } catch (error) {
    owned.close();
    throw error;
  }
}
