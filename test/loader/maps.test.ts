import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { alu } from '../../src/asm/alu.js';
import { exit } from '../../src/asm/func.js';
import type { MapDefinition } from '../../src/asm/program.js';
import {
  BpfError,
  BpfMap,
  codecs,
  createMap,
  loadProgram,
  MapDefinitionError,
  openPinnedMap,
  openPinnedProgram,
  PerCpuMap,
  possibleCpus,
  RingBufferMap,
} from '../../src/loader/index.js';
import { assembled, bpftool, describeWithBpf, openFdCount, privateBpffs, udpFrame } from './support.js';

type Dumped = { key: string[]; value?: string[]; values?: { cpu: number; value: string[] }[] };

/** The map's contents as bpftool reads them from the kernel: hex key -> value bytes, or per-CPU value bytes. */
function kernelView(id: number): Map<string, number[] | number[][]> {
  const dump = bpftool('map', 'dump', 'id', String(id)) as Dumped[];
  const hex = (bytes: string[]) => bytes.map((b) => b.slice(2)).join('');
  return new Map(
    dump.map((entry) => [
      hex(entry.key),
      entry.values ? entry.values.sort((a, b) => a.cpu - b.cpu).map((v) => v.value.map(Number)) : entry.value!.map(Number),
    ]),
  );
}

const u32Hex = (value: number) => Buffer.from(codecs.u32.encode(value)).toString('hex');
const u64Bytes = (value: bigint) => Array.from(codecs.u64.encode(value));

const plainTypes = ['hash', 'lru_hash', 'array'] as const;
const perCpuTypes = ['percpu_hash', 'percpu_array', 'lru_percpu_hash'] as const;

describeWithBpf('maps', () => {
  for (const type of plainTypes) {
    it(`${type}: set, get, iterate and delete, as the kernel sees them`, () => {
      const map = createMap({ name: `t_${type}`, type, keySize: 4, valueSize: 8, maxEntries: 16 }, { key: codecs.u32, value: codecs.u64 });
      try {
        expect(map).toBeInstanceOf(BpfMap);
        for (let key = 0; key < 10; key++) map.set(key, BigInt(key) * 1000n + 7n);
        const kernel = kernelView(map.info().id);
        for (let key = 0; key < 10; key++) expect(kernel.get(u32Hex(key))).toEqual(u64Bytes(BigInt(key) * 1000n + 7n));
        expect(map.get(3)).toBe(3007n);

        const expectedKeys = type === 'array' ? [...Array(16).keys()] : [...Array(10).keys()];
        expect([...map.keys()].sort((a, b) => a - b)).toEqual(expectedKeys);
        expect(new Map(map.entries()).get(9)).toBe(9007n);

        if (type === 'array') {
          expect(map.get(12)).toBe(0n);
          expect(map.get(16)).toBeUndefined();
          expect(() => map.delete(3)).toThrow('array elements cannot be deleted; set them to zero instead');
          expect(() => map.set(16, 1n)).toThrow('is full (maxEntries 16), or the index is beyond it');
        } else {
          expect(map.delete(3)).toBe(true);
          expect(map.delete(3)).toBe(false);
          expect(map.get(3)).toBeUndefined();
          expect(kernelView(map.info().id).has(u32Hex(3))).toBe(false);
          for (const key of map.keys()) map.delete(key);
          expect([...map.keys()]).toEqual([]);
        }
      } finally {
        map.close();
      }
    });
  }

  for (const type of perCpuTypes) {
    it(`${type}: one value per possible CPU, as the kernel sees them`, () => {
      const map = createMap({ name: `t_${type}`, type, keySize: 4, valueSize: 4, maxEntries: 8 }, { key: codecs.u32, value: codecs.u32 });
      try {
        expect(map).toBeInstanceOf(PerCpuMap);
        const cpus = possibleCpus();
        const values = cpus.map((cpu) => 100 + cpu);
        map.set(5, values);
        expect(map.get(5)).toEqual(values);
        // bpftool prints each CPU's value_size bytes; ours pads each to 8 in the syscall buffer.
        expect(kernelView(map.info().id).get(u32Hex(5))).toEqual(values.map((v) => Array.from(codecs.u32.encode(v))));
        const tooMany = [...values, 0];
        expect(() => map.set(5, tooMany)).toThrow(`expected ${cpus.length} values (one per possible CPU), got ${tooMany.length}`);
        expect([...map.keys()]).toContain(5);
        if (type !== 'percpu_array') {
          expect(map.delete(5)).toBe(true);
          expect(map.get(5)).toBeUndefined();
        }
      } finally {
        map.close();
      }
    });
  }

  it('possibleCpus matches the kernel list', () => {
    const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
    const cpus = possibleCpus();
    expect(cpus[0]).toBe(Number(text.split(/[-,]/)[0]));
    expect(cpus.at(-1)).toBe(Number(text.split(/[-,]/).at(-1)));
  });

  it('ringbuf: created with the size in maxEntries; no element access', () => {
    const ring = createMap({ name: 'events', type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 1 << 16 });
    try {
      expect(ring).toBeInstanceOf(RingBufferMap);
      expect(bpftool('map', 'show', 'id', String(ring.info().id))).toMatchObject({ type: 'ringbuf', max_entries: 1 << 16, name: 'events' });
    } finally {
      ring.close();
    }
    expect(() => createMap({ name: 'events', type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 5000 })).toThrow(MapDefinitionError);
  });

  it('update modes and a full hash map give explained errors', () => {
    const map = createMap({ name: 'small', type: 'hash', keySize: 4, valueSize: 4, maxEntries: 2 }, { key: codecs.u32, value: codecs.u32 });
    try {
      map.set(1, 10, 'noexist');
      expect(() => map.set(1, 11, 'noexist')).toThrow("map small already has this key (set with mode 'noexist')");
      expect(() => map.set(2, 20, 'exist')).toThrow("map small has no such key (set with mode 'exist')");
      map.set(2, 20);
      let error: unknown;
      try {
        map.set(3, 30);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(BpfError);
      expect((error as BpfError).code).toBe('E2BIG');
      expect((error as BpfError).message).toBe('bpf(BPF_MAP_UPDATE_ELEM) failed with E2BIG: map small is full (maxEntries 2), or the index is beyond it');
      expect(map.get(1)).toBe(10);
    } finally {
      map.close();
    }
  });

  it('struct codecs lay fields out as C does', () => {
    const value = codecs.struct({ flag: codecs.u8, count: codecs.u32, bytes: codecs.u64 });
    expect(value.size).toBe(16);
    const map = createMap({ name: 'stats', type: 'hash', keySize: 6, valueSize: 16, maxEntries: 4 }, { key: codecs.bytes(6), value });
    try {
      const mac = Uint8Array.of(2, 0, 0, 0, 0, 1);
      map.set(mac, { flag: 1, count: 2, bytes: 3n });
      expect(map.get(mac)).toEqual({ flag: 1, count: 2, bytes: 3n });
      const kernel = kernelView(map.info().id).get('020000000001') as number[];
      expect(kernel[0]).toBe(1);
      expect(kernel.slice(4, 8)).toEqual(Array.from(codecs.u32.encode(2)));
      expect(kernel.slice(8, 16)).toEqual(u64Bytes(3n));
    } finally {
      map.close();
    }
  });

  it('checks definitions and codecs before asking the kernel, leaking nothing', () => {
    const before = openFdCount();
    expect(() => createMap({ name: 'bad', type: 'array', keySize: 8, valueSize: 4, maxEntries: 1 })).toThrow(
      'map bad: keySize: array keys are u32 indexes: keySize must be 4, got 8',
    );
    expect(() => createMap({ name: 'bad', type: 'hash', keySize: 8, valueSize: 4, maxEntries: 1 }, { key: codecs.u32 })).toThrow(
      "map bad: codec: key codec encodes 4 bytes, the map's keys have 8",
    );
    expect(openFdCount()).toBe(before);
  });

  it('explains a definition the kernel itself rejects', () => {
    const def: MapDefinition = { name: 'huge', type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1, flags: 0x4000_0000 };
    expect(() => createMap(def)).toThrow(/^bpf\(BPF_MAP_CREATE\) failed with EINVAL: the kernel rejected map huge \(hash, key 4 B, value 4 B, 1 entries, flags 0x40000000\)$/);
  });
});

describeWithBpf('pinning', () => {
  let bpffs: ReturnType<typeof privateBpffs>;
  beforeAll(() => {
    bpffs = privateBpffs();
  });
  afterAll(() => {
    bpffs.dispose();
  });

  it('pins a map and a program and opens them again', () => {
    const program = loadProgram(assembled('pinned', [alu('MOV', true, 0, { imm: 3 }), exit()]));
    const map = createMap({ name: 'shared', type: 'hash', keySize: 4, valueSize: 8, maxEntries: 4 }, { key: codecs.u32, value: codecs.u64 });
    const mapPath = join(bpffs.dir, 'shared');
    const programPath = join(bpffs.dir, 'pinned');
    try {
      map.set(7, 70n);
      map.pin(mapPath);
      program.pin(programPath);
      expect(() => map.pin(mapPath)).toThrow(`${mapPath} already exists`);
    } finally {
      program.close();
      map.close();
    }

    const reopened = openPinnedMap(mapPath, { key: codecs.u32, value: codecs.u64 });
    const reloaded = openPinnedProgram(programPath);
    try {
      expect(reopened.definition).toMatchObject({ name: 'shared', type: 'hash', keySize: 4, valueSize: 8, maxEntries: 4 });
      expect((reopened as BpfMap<number, bigint>).get(7)).toBe(70n);
      expect(reloaded.name).toBe('pinned');
      expect(reloaded.testRun(udpFrame()).retval).toBe(3);
      expect(() => openPinnedMap(programPath)).toThrow(`${programPath} holds a bpf program, not a map`);
      expect(() => openPinnedProgram(mapPath)).toThrow(`${mapPath} holds a bpf map, not a program`);
      expect(() => openPinnedMap(join(bpffs.dir, 'absent'))).toThrow(`nothing is pinned at ${join(bpffs.dir, 'absent')}`);
    } finally {
      reopened.close();
      reloaded.close();
    }
  });

  it('names the cause when the path is not on a bpf filesystem', () => {
    const map = createMap({ name: 'stray', type: 'array', keySize: 4, valueSize: 4, maxEntries: 1 });
    try {
      expect(() => map.pin('/tmp/bpfgen-not-bpffs')).toThrow('/tmp/bpfgen-not-bpffs is not inside a bpf filesystem (mount one with `mount -t bpf bpf DIR`)');
    } finally {
      map.close();
    }
  });
});
