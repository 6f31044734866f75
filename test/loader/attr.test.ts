/**
 * The bpf_attr encoders against the C compiler's view of the installed
 * kernel UAPI header: every field at its offsetof(), every buffer as long as
 * its command's member of union bpf_attr.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  btfLoadAttr,
  FUNC_INFO_SIZE,
  LINE_INFO_SIZE,
  linkCreateAttr,
  linkDetachAttr,
  linkUpdateAttr,
  mapCreateAttr,
  mapGetNextKeyAttr,
  mapLookupElemAttr,
  mapUpdateElemAttr,
  NATIVE_LITTLE_ENDIAN,
  objGetAttr,
  objGetInfoByFdAttr,
  objPinAttr,
  progGetFdByIdAttr,
  progGetNextIdAttr,
  progLoadAttr,
  progTestRunAttr,
  StructBuffer,
  type BpfRequest,
} from '../../src/loader/attr.js';
import { AttachType, BpfCommand, MapTypeValue, ProgramTypeValue } from '../../src/loader/uapi.js';

/** offsetof() of each field used, and the end of each command's member, from the installed header. */
const C_SOURCE = `
#include <linux/bpf.h>
#include <stddef.h>
#include <stdio.h>
#define OFF(name, member) printf("\\"%s\\": %zu,\\n", name, offsetof(union bpf_attr, member))
#define END(name, member) printf("\\"%s\\": %zu,\\n", name, offsetof(union bpf_attr, member) + sizeof(((union bpf_attr *)0)->member))
int main(void) {
  printf("{\\n");
  OFF("map_type", map_type); OFF("key_size", key_size); OFF("value_size", value_size);
  OFF("max_entries", max_entries); OFF("map_flags", map_flags); OFF("map_name", map_name);
  END("map_create_end", map_extra);
  OFF("map_fd", map_fd); OFF("key", key); OFF("value", value); OFF("next_key", next_key); OFF("flags", flags);
  END("elem_end", flags);
  OFF("prog_type", prog_type); OFF("insn_cnt", insn_cnt); OFF("insns", insns); OFF("license", license);
  OFF("log_level", log_level); OFF("log_size", log_size); OFF("log_buf", log_buf); OFF("kern_version", kern_version);
  OFF("prog_name", prog_name); OFF("expected_attach_type", expected_attach_type);
  OFF("prog_btf_fd", prog_btf_fd); OFF("func_info_rec_size", func_info_rec_size); OFF("func_info", func_info);
  OFF("func_info_cnt", func_info_cnt); OFF("line_info_rec_size", line_info_rec_size); OFF("line_info", line_info);
  OFF("line_info_cnt", line_info_cnt);
  END("prog_load_end", core_relo_rec_size);
  OFF("btf", btf); OFF("btf_log_buf", btf_log_buf); OFF("btf_size", btf_size); OFF("btf_log_size", btf_log_size);
  OFF("btf_log_level", btf_log_level); END("btf_load_end", btf_log_level);
  printf("\\"BPF_BTF_LOAD\\": %d, \\"func_info_size\\": %zu, \\"line_info_size\\": %zu,\\n", BPF_BTF_LOAD, sizeof(struct bpf_func_info), sizeof(struct bpf_line_info));
  OFF("pathname", pathname); OFF("bpf_fd", bpf_fd); OFF("file_flags", file_flags); END("obj_end", file_flags);
  OFF("test.prog_fd", test.prog_fd); OFF("test.data_size_in", test.data_size_in); OFF("test.data_size_out", test.data_size_out);
  OFF("test.data_in", test.data_in); OFF("test.data_out", test.data_out); OFF("test.repeat", test.repeat);
  OFF("test.ctx_size_in", test.ctx_size_in); OFF("test.ctx_in", test.ctx_in); OFF("test.ctx_out", test.ctx_out);
  printf("\\"test_size\\": %zu,\\n", sizeof(((union bpf_attr *)0)->test));
  OFF("start_id", start_id); OFF("next_id", next_id); END("get_id_end", open_flags);
  OFF("info.bpf_fd", info.bpf_fd); OFF("info.info_len", info.info_len); OFF("info.info", info.info);
  printf("\\"info_size\\": %zu,\\n", sizeof(((union bpf_attr *)0)->info));
  OFF("link_create.prog_fd", link_create.prog_fd); OFF("link_create.target_ifindex", link_create.target_ifindex);
  OFF("link_create.attach_type", link_create.attach_type); OFF("link_create.flags", link_create.flags);
  printf("\\"link_create_size\\": %zu,\\n", sizeof(((union bpf_attr *)0)->link_create));
  OFF("link_update.link_fd", link_update.link_fd); OFF("link_update.new_prog_fd", link_update.new_prog_fd);
  OFF("link_update.flags", link_update.flags); OFF("link_update.old_prog_fd", link_update.old_prog_fd);
  printf("\\"link_update_size\\": %zu,\\n", sizeof(((union bpf_attr *)0)->link_update));
  printf("\\"link_detach_size\\": %zu,\\n", sizeof(((union bpf_attr *)0)->link_detach));
  printf("\\"BPF_MAP_TYPE_RINGBUF\\": %d, \\"BPF_MAP_TYPE_LRU_PERCPU_HASH\\": %d,\\n", BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_LRU_PERCPU_HASH);
  printf("\\"BPF_PROG_TYPE_XDP\\": %d, \\"BPF_PROG_TYPE_CGROUP_SKB\\": %d,\\n", BPF_PROG_TYPE_XDP, BPF_PROG_TYPE_CGROUP_SKB);
  printf("\\"BPF_XDP\\": %d, \\"BPF_PERF_EVENT\\": %d\\n", BPF_XDP, BPF_PERF_EVENT);
  printf("}\\n");
  return 0;
}
`;

let c: Record<string, number>;
let workdir: string;

beforeAll(() => {
  workdir = mkdtempSync(join(tmpdir(), 'bpfgen-attr-'));
  writeFileSync(join(workdir, 'offsets.c'), C_SOURCE);
  execFileSync('cc', ['-o', join(workdir, 'offsets'), join(workdir, 'offsets.c')], { timeout: 60_000 });
  c = JSON.parse(execFileSync(join(workdir, 'offsets'), { encoding: 'utf8', timeout: 10_000 })) as Record<string, number>;
});

afterAll(() => {
  rmSync(workdir, { recursive: true, force: true });
});

const roundUp8 = (n: number) => Math.ceil(n / 8) * 8;

function u32At(request: BpfRequest, offset: number): number {
  return new DataView(request.attr.bytes.buffer).getUint32(offset, NATIVE_LITTLE_ENDIAN);
}

function pointerOffsets(request: BpfRequest): number[] {
  return request.pointers.filter(([holder]) => holder === request.attr.bytes).map(([, offset]) => offset);
}

describe('bpf_attr encoders', () => {
  it('MAP_CREATE', () => {
    const request = mapCreateAttr({ type: 'lru_percpu_hash', keySize: 0x11, valueSize: 0x22, maxEntries: 0x33, flags: 0x44, name: 'flow.table-1' });
    expect(request.attr.bytes.byteLength).toBe(c.map_create_end);
    expect(u32At(request, c.map_type!)).toBe(c.BPF_MAP_TYPE_LRU_PERCPU_HASH);
    expect([c.key_size, c.value_size, c.max_entries, c.map_flags].map((o) => u32At(request, o!))).toEqual([0x11, 0x22, 0x33, 0x44]);
    // Characters outside [A-Za-z0-9_.] would make the kernel refuse the name.
    expect(Buffer.from(request.attr.bytes.subarray(c.map_name!, c.map_name! + 16)).toString('latin1')).toBe('flow.table_1\0\0\0\0');
    expect(mapCreateAttr({ type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 4096 }).attr.bytes[c.map_type!]).toBe(c.BPF_MAP_TYPE_RINGBUF);
  });

  it('MAP_*_ELEM and MAP_GET_NEXT_KEY', () => {
    const key = new Uint8Array(4);
    const value = new Uint8Array(8);
    const update = mapUpdateElemAttr(7, key, value, 2);
    expect(update.attr.bytes.byteLength).toBe(c.elem_end);
    expect(u32At(update, c.map_fd!)).toBe(7);
    expect(u32At(update, c.flags!)).toBe(2);
    expect(pointerOffsets(update)).toEqual([c.key, c.value]);
    expect(pointerOffsets(mapLookupElemAttr(7, key, value))).toEqual([c.key, c.value]);
    expect(pointerOffsets(mapGetNextKeyAttr(7, key, value)).sort()).toEqual([c.key, c.next_key].sort());
    // A first call passes a NULL key: no pointer is stored there.
    expect(pointerOffsets(mapGetNextKeyAttr(7, undefined, value))).toEqual([c.next_key]);
  });

  it('PROG_LOAD', () => {
    const insns = new Uint8Array(24);
    const log = new Uint8Array(100);
    const request = progLoadAttr({ type: 'cgroup_skb', insns, license: 'GPL', name: 'my prog', expectedAttachType: 'xdp', logLevel: 2, logBuffer: log, kernVersion: 0x060c00 });
    expect(request.attr.bytes.byteLength).toBe(roundUp8(c.prog_load_end!));
    expect(u32At(request, c.prog_type!)).toBe(c.BPF_PROG_TYPE_CGROUP_SKB);
    expect(u32At(request, c.insn_cnt!)).toBe(3);
    expect(u32At(request, c.log_level!)).toBe(2);
    expect(u32At(request, c.log_size!)).toBe(100);
    expect(u32At(request, c.kern_version!)).toBe(0x060c00);
    expect(u32At(request, c.expected_attach_type!)).toBe(c.BPF_XDP);
    expect(Buffer.from(request.attr.bytes.subarray(c.prog_name!, c.prog_name! + 8)).toString('latin1')).toBe('my_prog\0');
    expect(pointerOffsets(request)).toEqual([c.insns, c.license, c.log_buf]);
    const license = request.pointers.find(([, offset]) => offset === c.license)![2];
    expect(Buffer.from(license).toString('latin1')).toBe('GPL\0');
  });

  it('PROG_LOAD with BTF function and line info, and BTF_LOAD', () => {
    const funcInfo = new Uint8Array(2 * FUNC_INFO_SIZE);
    const lineInfo = new Uint8Array(3 * LINE_INFO_SIZE);
    const request = progLoadAttr({ type: 'xdp', insns: new Uint8Array(8), license: 'GPL', btf: { btfFd: 12, funcInfo, lineInfo } });
    expect([FUNC_INFO_SIZE, LINE_INFO_SIZE]).toEqual([c.func_info_size, c.line_info_size]);
    expect([c.prog_btf_fd, c.func_info_rec_size, c.func_info_cnt, c.line_info_rec_size, c.line_info_cnt].map((o) => u32At(request, o!))).toEqual([12, 8, 2, 16, 3]);
    expect(pointerOffsets(request)).toEqual([c.insns, c.license, c.func_info, c.line_info]);
    const btf = new Uint8Array(40);
    const log = new Uint8Array(64);
    const load = btfLoadAttr(btf, log);
    expect(BpfCommand.BTF_LOAD.value).toBe(c.BPF_BTF_LOAD);
    // The layout reaches btf_log_true_size (Linux 6.4), which older headers lack.
    expect(load.attr.bytes.byteLength).toBe(roundUp8(c.btf_load_end!));
    expect([c.btf_size, c.btf_log_size, c.btf_log_level].map((o) => u32At(load, o!))).toEqual([40, 64, 1]);
    expect(pointerOffsets(load)).toEqual([c.btf, c.btf_log_buf]);
  });

  it('OBJ_PIN and OBJ_GET', () => {
    const pin = objPinAttr(9, '/sys/fs/bpf/x');
    expect(pin.attr.bytes.byteLength).toBe(c.obj_end);
    expect(u32At(pin, c.bpf_fd!)).toBe(9);
    expect(pointerOffsets(pin)).toEqual([c.pathname]);
    expect(u32At(objGetAttr('/sys/fs/bpf/x', 1 << 3), c.file_flags!)).toBe(8);
  });

  it('PROG_TEST_RUN', () => {
    const request = progTestRunAttr({ progFd: 5, dataIn: new Uint8Array(60), dataOut: new Uint8Array(90), ctxIn: new Uint8Array(24), ctxOut: new Uint8Array(24), repeat: 10 });
    expect(request.attr.bytes.byteLength).toBe(c.test_size);
    expect(u32At(request, c['test.prog_fd']!)).toBe(5);
    expect(u32At(request, c['test.data_size_in']!)).toBe(60);
    expect(u32At(request, c['test.data_size_out']!)).toBe(90);
    expect(u32At(request, c['test.repeat']!)).toBe(10);
    expect(u32At(request, c['test.ctx_size_in']!)).toBe(24);
    expect(pointerOffsets(request)).toEqual([c['test.data_in'], c['test.data_out'], c['test.ctx_in'], c['test.ctx_out']]);
  });

  it('*_GET_NEXT_ID, *_GET_FD_BY_ID and OBJ_GET_INFO_BY_FD', () => {
    expect(progGetNextIdAttr(3).attr.bytes.byteLength).toBe(c.get_id_end);
    expect(u32At(progGetNextIdAttr(3), c.start_id!)).toBe(3);
    expect(u32At(progGetFdByIdAttr(4), c.start_id!)).toBe(4);
    const info = new StructBuffer({ name: 'info', size: 40, fields: { out: { offset: 8, kind: 'pointer' } } }).pointer('out', new Uint8Array(4));
    const request = objGetInfoByFdAttr(6, info);
    expect(request.attr.bytes.byteLength).toBe(c.info_size);
    expect(u32At(request, c['info.bpf_fd']!)).toBe(6);
    expect(u32At(request, c['info.info_len']!)).toBe(40);
    expect(pointerOffsets(request)).toEqual([c['info.info']]);
    // The pointer inside the info struct travels with the request.
    expect(request.pointers).toHaveLength(2);
  });

  it('LINK_CREATE, LINK_UPDATE and LINK_DETACH', () => {
    const create = linkCreateAttr({ progFd: 3, target: 2, attachType: 'perf_event', flags: 4 });
    expect(create.attr.bytes.byteLength).toBe(c.link_create_size);
    expect(u32At(create, c['link_create.prog_fd']!)).toBe(3);
    expect(u32At(create, c['link_create.target_ifindex']!)).toBe(2);
    expect(u32At(create, c['link_create.attach_type']!)).toBe(c.BPF_PERF_EVENT);
    expect(u32At(create, c['link_create.flags']!)).toBe(4);
    const update = linkUpdateAttr(8, 9, 10);
    expect(update.attr.bytes.byteLength).toBe(c.link_update_size);
    expect([c['link_update.link_fd'], c['link_update.new_prog_fd'], c['link_update.old_prog_fd']].map((o) => u32At(update, o!))).toEqual([8, 9, 10]);
    expect(u32At(update, c['link_update.flags']!)).not.toBe(0);
    expect(linkDetachAttr(8).attr.bytes.byteLength).toBe(c.link_detach_size);
  });

  it('type enumerations match the header', () => {
    expect(MapTypeValue.ringbuf.value).toBe(c.BPF_MAP_TYPE_RINGBUF);
    expect(ProgramTypeValue.xdp.value).toBe(c.BPF_PROG_TYPE_XDP);
    expect(AttachType.xdp.value).toBe(c.BPF_XDP);
  });

  it('lists what the kernel must support, including fields newer than the command', () => {
    const request = progLoadAttr({ type: 'xdp', insns: new Uint8Array(8), license: 'GPL', name: 'x', expectedAttachType: 'xdp' });
    expect(request.requires).toEqual(
      expect.arrayContaining([
        { feature: 'the BPF_PROG_LOAD command', since: '3.18' },
        { feature: 'xdp programs', since: '4.8' },
        { feature: 'attach type xdp', since: '5.9' },
        { feature: 'bpf_attr(PROG_LOAD).prog_name', since: '4.15' },
        { feature: 'bpf_attr(PROG_LOAD).expected_attach_type', since: '4.17' },
      ]),
    );
    const unnamed = progLoadAttr({ type: 'xdp', insns: new Uint8Array(8), license: 'GPL' });
    expect(unnamed.requires.map((r) => r.feature)).not.toContain('bpf_attr(PROG_LOAD).prog_name');
  });
});
