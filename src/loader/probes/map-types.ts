/**
 * Map type probes: create the smallest map of each type and close it. Each
 * type has its own rules for sizes and flags; an unknown type is refused
 * with EINVAL before those rules are looked at. Map-in-map and local
 * storage types need an inner map or BTF: they are given a descriptor that
 * is not open, and EBADF (the kernel went looking for it) proves that the
 * type passed its checks.
 */
import { release } from 'node:os';
import { KernelMapType, MapFlag, type KernelMapTypeName } from '../uapi.js';
import { INVALID_FD, probeMapAttr, type ProbeMapParams } from './attr.js';
import { attemptAndClose, ATTR_TOO_NEW, inconclusive, NOT_PERMITTED, type Refusal } from './kernel.js';
import { assertProgramsLoadable } from './program-types.js';
import { available, cachedProbe, unavailable, type FeatureStatus } from './status.js';

type MapShape = Omit<ProbeMapParams, 'mapType'>;

/** Ring buffers must be a power of two of whole pages: 64 KiB is one for every page size Linux uses (4, 16, 64 KiB). */
const RING_SIZE = 64 * 1024;
const SMALL: MapShape = { keySize: 4, valueSize: 4, maxEntries: 1 };
/** Local storage: key is an fd (int), no preallocation, no max_entries, a BTF value type. */
const LOCAL_STORAGE: MapShape = {
  keySize: 4,
  valueSize: 4,
  maxEntries: 0,
  flags: MapFlag.no_prealloc,
  btfFd: INVALID_FD,
  btfKeyTypeId: 1,
  btfValueTypeId: 1,
};
/** struct bpf_cgroup_storage_key: a u64 cgroup inode id and a u32 attach type, padded to 16 bytes. */
const CGROUP_STORAGE: MapShape = { keySize: 16, valueSize: 8, maxEntries: 0 };
const MAP_OF_MAPS: MapShape = { ...SMALL, innerMapFd: INVALID_FD };

const SHAPES: Partial<Record<KernelMapTypeName, MapShape>> = {
  stack_trace: { ...SMALL, valueSize: 8 },
  // struct bpf_lpm_trie_key: a u32 prefix length and at least one byte of data, padded.
  lpm_trie: { keySize: 8, valueSize: 8, maxEntries: 1, flags: MapFlag.no_prealloc },
  array_of_maps: MAP_OF_MAPS,
  hash_of_maps: MAP_OF_MAPS,
  cgroup_storage: CGROUP_STORAGE,
  percpu_cgroup_storage: CGROUP_STORAGE,
  queue: { ...SMALL, keySize: 0 },
  stack: { ...SMALL, keySize: 0 },
  sk_storage: LOCAL_STORAGE,
  // The value type must be a kernel struct with struct_ops; vmlinux BTF id 1 is an integer, hence ENOTSUPP.
  struct_ops: { ...SMALL, btfVmlinuxValueTypeId: 1 },
  ringbuf: { keySize: 0, valueSize: 0, maxEntries: RING_SIZE },
  inode_storage: LOCAL_STORAGE,
  task_storage: LOCAL_STORAGE,
  bloom_filter: { ...SMALL, keySize: 0 },
  user_ringbuf: { keySize: 0, valueSize: 0, maxEntries: RING_SIZE },
  cgrp_storage: LOCAL_STORAGE,
  // One page of arena, mmap()able at any address.
  arena: { keySize: 0, valueSize: 0, maxEntries: 1, flags: MapFlag.mmapable },
};

/** Refusals that come after the kernel accepted the type (see the file comment). */
function knownDespite(type: KernelMapTypeName, refusal: Refusal): boolean {
  const shape = SHAPES[type];
  if (refusal.code === 'EBADF') return shape?.innerMapFd === INVALID_FD || shape?.btfFd === INVALID_FD;
  return type === 'struct_ops' && refusal.code === 'ENOTSUPP';
}

export function mapTypeFeature(type: KernelMapTypeName): string {
  return `map_type:${type}`;
}

export function probeMapType(type: KernelMapTypeName): FeatureStatus {
  const name = mapTypeFeature(type);
  return cachedProbe(name, () => {
    assertProgramsLoadable();
    const { value, since } = KernelMapType[type];
    const description = `${type} maps`;
    const refusal = attemptAndClose('MAP_CREATE', probeMapAttr({ mapType: value, ...(SHAPES[type] ?? SMALL) }));
    if (!refusal || knownDespite(type, refusal)) return available(name, description, since);
    const no = (reason: string) => unavailable(name, description, since, reason);
    switch (refusal.code) {
      case 'EINVAL':
        return no(`the kernel refused to create a map of type ${value} (EINVAL): it predates Linux ${since} or was built without this type (kernel ${release()})`);
      case 'E2BIG':
        return no(ATTR_TOO_NEW);
      case 'EPERM':
        return no(NOT_PERMITTED);
      case 'ENOTSUPP':
      case 'EOPNOTSUPP':
        return no(`the kernel does not support maps of this type here (${refusal.code})`);
      default:
        throw inconclusive('MAP_CREATE', description, refusal);
    }
  });
}
