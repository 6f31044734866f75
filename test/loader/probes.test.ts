/**
 * Kernel feature probes against outside oracles: `bpftool feature probe`
 * (Debian bpftool 7.1, built on libbpf 1.1), the running kernel's BTF and
 * build configuration, programs compiled by clang and loaded by bpftool,
 * and the UAPI header as the C compiler sees it. Then the cache, the
 * FeatureError of requireFeature, and cleanliness. `bpfgen probe` is in
 * test/cli/probe.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { HELPERS, type HelperName } from '../../src/asm/helpers.js';
import { FeatureError } from '../../src/loader/errors.js';
import { native } from '../../src/loader/native.js';
import { probeLoadAttr, probeMapAttr } from '../../src/loader/probes/attr.js';
import {
  HELPER_PROBE_PROGRAM_TYPES,
  MissingFeatureError,
  probeAll,
  probeFeature,
  probeHelper,
  probeIsa,
  probeLink,
  probeMapType,
  probeProgramType,
  requireFeature,
  SIDE_EFFECT_HELPERS,
  type FeatureName,
  type FeatureStatus,
} from '../../src/loader/probes/index.js';
import { NATIVE_LITTLE_ENDIAN } from '../../src/loader/attr.js';
import { AttachType, KernelMapType, KernelProgramType, type KernelMapTypeName, type KernelProgramTypeName } from '../../src/loader/uapi.js';
import { EMULATED, emulationScaled } from '../support/emulation.js';
import { kernelAtLeast, kernelConfig, kernelEnum } from '../support/kernel.js';
import { bpftool, describeWithBpf, kernelRunsGotol, openFdCount, privateBpffs } from './support.js';


/** `bpftool feature probe kernel -j`, the parts compared here. */
/** bpftool 7.1's libbpf knows helpers up to bpf_user_ringbuf_drain. */
const BPFTOOL_LAST_HELPER_ID = 209;

interface BpftoolFeatures {
  readonly program_types: Record<string, boolean>;
  readonly map_types: Record<string, boolean>;
  readonly helpers: Record<string, string[]>;
  readonly misc: Record<string, boolean>;
}

describeWithBpf('feature probes', () => {
  // First in the file, so that nothing has been asked yet.
  it('asks the kernel once per feature, then answers from the cache', () => {
    const shim = native();
    const bpf = vi.spyOn(shim, 'bpf');
    try {
      const first = probeFeature('helper:flow_dissector:skb_load_bytes');
      const asked = bpf.mock.calls.length;
      expect(asked).toBeGreaterThan(0);
      expect(probeFeature('helper:flow_dissector:skb_load_bytes')).toBe(first);
      expect(probeHelper('flow_dissector', 'skb_load_bytes')).toBe(first);
      expect(bpf.mock.calls.length).toBe(asked);

      probeAll();
      const afterAll = bpf.mock.calls.length;
      expect(afterAll).toBeGreaterThan(asked);
      probeAll();
      expect(bpf.mock.calls.length).toBe(afterAll);
    } finally {
      bpf.mockRestore();
    }
  });

  describe('against bpftool feature probe (bpftool 7.1, libbpf 1.1)', () => {
    let oracle: BpftoolFeatures;
    beforeAll(() => {
      oracle = bpftool('feature', 'probe', 'kernel') as BpftoolFeatures;
    });

    it('agrees on every program type bpftool knows', () => {
      const theirs = new Map(Object.entries(oracle.program_types).map(([key, value]) => [/^have_(\w+)_prog_type$/.exec(key)![1]!, value]));
      const disagreements: string[] = [];
      for (const [type, supported] of theirs) {
        expect(Object.keys(KernelProgramType)).toContain(type);
        if (probeProgramType(type as KernelProgramTypeName).supported !== supported) disagreements.push(type);
      }
      // tracing: bpftool loads it with expected attach type fentry and BTF id 1
      // and waits for "attach_btf_id 1 is not a function". Some kernels (this
      // project's host among them, not Debian's 6.1 and 6.12) refuse fentry,
      // lsm and ext programs with EPERM before verifying them, and bpftool
      // says no there, as our lsm and ext probes do. We load it without an
      // attach type and take the verifier's "Tracing programs must provide
      // btf_id" as the proof that the kernel knows the type.
      expect(probeProgramType('tracing').supported).toBe(true);
      if (theirs.get('tracing')) {
        expect(disagreements).toEqual([]);
        for (const type of ['lsm', 'ext'] as const) expect(probeProgramType(type).supported).toBe(true);
      } else {
        expect(disagreements).toEqual(['tracing']);
        for (const type of ['lsm', 'ext'] as const) expect(probeProgramType(type).reason).toContain('EPERM');
      }
      // bpftool 7.1 predates BPF_PROG_TYPE_NETFILTER (Linux 6.4).
      expect(Object.keys(KernelProgramType).filter((type) => !theirs.has(type))).toEqual(['netfilter']);
      // Both follow the kernel configuration.
      expect(probeProgramType('lirc_mode2').supported).toBe(kernelConfig('CONFIG_BPF_LIRC_MODE2'));
    });

    it('agrees on every map type bpftool knows', () => {
      const theirs = new Map(Object.entries(oracle.map_types).map(([key, value]) => [/^have_(\w+)_map_type$/.exec(key)![1]!, value]));
      for (const [type, supported] of theirs) {
        expect(Object.keys(KernelMapType)).toContain(type);
        expect({ type, supported: probeMapType(type as KernelMapTypeName).supported }).toEqual({ type, supported });
      }
      // bpftool 7.1 predates cgrp_storage (Linux 6.2) and arena (6.9) maps.
      expect(Object.keys(KernelMapType).filter((type) => !theirs.has(type))).toEqual(['cgrp_storage', 'arena']);
    });

    it('agrees on ISA v2 and v3', () => {
      expect(probeIsa('v2').supported).toBe(oracle.misc.have_v2_isa_extension);
      expect(probeIsa('v3').supported).toBe(oracle.misc.have_v3_isa_extension);
    });

    it('agrees on helpers where libbpf 1.1 can read the verifier, and disagrees only where it cannot', () => {
      // libbpf 1.1 counts a helper as missing only on "invalid func" or
      // "unknown func", which is what 6.1 says of a helper the program type
      // may not call. Newer kernels say "program of this type cannot use
      // helper", and some "func … not supported for program type" or
      // "helper call might sleep in a non-sleepable prog", which libbpf 1.1
      // takes for an argument error: there it lists every helper it knows as
      // available for every type it can load. So: where bpftool says no, we
      // say no; where we say yes, bpftool says yes; and every disagreement
      // is one of those verdicts. The clang test below loads a sample of them
      // through bpftool to see the kernel say so.
      // bpftool 7.1 knows helpers up to user_ringbuf_drain (209), and leaves
      // out those with side effects unless run in "full" mode: it lists no other.
      const sideEffects = new Set(['trace_printk', 'probe_write_user', 'trace_vprintk']);
      const comparable = HELPERS.filter((helper) => helper.id <= BPFTOOL_LAST_HELPER_ID && !sideEffects.has(helper.name));
      const listed = new Set(Object.values(oracle.helpers).flat().map((name) => name.replace(/^bpf_/, '')));
      expect([...listed].filter((name) => !comparable.some((helper) => helper.name === name))).toEqual([]);
      let compared = 0;
      let agreedNo = 0;
      const disagreements: FeatureStatus[] = [];
      for (const type of HELPER_PROBE_PROGRAM_TYPES) {
        const list = oracle.helpers[`${type}_available_helpers`];
        if (!list) continue; // netfilter: see above
        const theirs = new Set(list.map((name) => name.replace(/^bpf_/, '')));
        for (const { name } of comparable) {
          const ours = probeHelper(type, name as HelperName);
          compared++;
          if (ours.supported) expect({ helper: ours.name, bpftool: theirs.has(name) }).toEqual({ helper: ours.name, bpftool: true });
          else if (!theirs.has(name)) agreedNo++;
          else disagreements.push(ours);
        }
      }
      expect(compared).toBeGreaterThan(5000);
      // lirc_mode2 is not built into this kernel: bpftool lists no helper for it, nor do we.
      expect(agreedNo).toBeGreaterThan(0);
      const misread = /^the kernel has bpf_\w+, but not for \w+ programs$|^bpf_\w+ may sleep, and \w+ programs loaded without BPF_F_SLEEPABLE cannot call it$/;
      for (const status of disagreements) expect({ helper: status.name, reason: status.reason }).toEqual({ helper: status.name, reason: expect.stringMatching(misread) });
    });
  });

  it('matches what bpftool sees when it loads clang-compiled programs calling the helpers', () => {
    // Helpers sampled per program type and verdict: fewer under emulation, where each clang and bpftool run takes seconds.
    const SAMPLE_PER_VERDICT = emulationScaled(4, 2);
    const workdir = mkdtempSync(join(tmpdir(), 'bpfgen-probe-clang-'));
    const bpffs = privateBpffs();
    try {
      const sections = { xdp: 'xdp', sched_cls: 'tc', socket_filter: 'socket' } as const;
      // Refused for the program type (older kernels say "unknown func"), or (a helper newer than the kernel) not known at all.
      const refused = /program of this type cannot use helper|unknown func bpf_|not supported for program type|might sleep in a non-sleepable prog|invalid func unknown#/;
      let sampled = 0;
      for (const [type, section] of Object.entries(sections) as [keyof typeof sections, string][]) {
        const statuses = HELPERS.filter((helper) => !SIDE_EFFECT_HELPERS[helper.name as HelperName]).map((helper) => ({
          helper,
          status: probeHelper(type, helper.name as HelperName),
        }));
        const every = <T>(items: T[], count: number) => items.filter((_, i) => i % Math.ceil(items.length / count) === 0);
        const sample = [...every(statuses.filter((s) => s.status.supported), SAMPLE_PER_VERDICT), ...every(statuses.filter((s) => !s.status.supported), SAMPLE_PER_VERDICT)];
        for (const { helper, status } of sample) {
          const source = join(workdir, `${type}-${helper.name}.c`);
          const object = source.replace(/\.c$/, '.o');
          writeFileSync(
            source,
            `static long (* const helper)(void) = (void *) ${helper.id};\n` +
              `__attribute__((section("${section}"), used)) int probe(void *ctx) { helper(); return 0; }\n` +
              `char _license[] __attribute__((section("license"), used)) = "GPL";\n`,
          );
          execFileSync('clang-19', ['-target', 'bpf', '-O2', '-c', source, '-o', object], { timeout: 60_000 });
          const load = spawnSync('bpftool', ['prog', 'load', object, join(bpffs.dir, `${type}-${helper.name}`)], { encoding: 'utf8', timeout: 60_000 });
          expect({ helper: status.name, refused: refused.test(load.stdout + load.stderr) }).toEqual({ helper: status.name, refused: !status.supported });
          sampled++;
        }
      }
      expect(sampled).toBe(3 * 2 * SAMPLE_PER_VERDICT);
    } finally {
      bpffs.dispose();
      rmSync(workdir, { recursive: true, force: true });
    }
  });

  it('names program, map and attach types as the running kernel does (its BTF)', () => {
    // The kernel's enums only grow: ours must hold every enumerator of the
    // running kernel at its value, and may add only those of newer kernels,
    // after the kernel's last.
    const agrees = (ours: Record<string, { value: number }>, theirs: Map<string, number>) => {
      theirs.delete('unspec');
      const last = Math.max(...theirs.values());
      const mine = Object.entries(ours).map(([name, { value }]) => [name, value] as const);
      expect(Object.fromEntries(mine.filter(([, value]) => value <= last))).toEqual(Object.fromEntries(theirs));
      expect(mine.filter(([name]) => !theirs.has(name)).every(([, value]) => value > last)).toBe(true);
    };
    agrees(KernelProgramType, kernelEnum('bpf_prog_type', 'BPF_PROG_TYPE_'));
    agrees(KernelMapType, kernelEnum('bpf_map_type', 'BPF_MAP_TYPE_'));
    const attachTypes = kernelEnum('bpf_attach_type', 'BPF_');
    const lastAttachType = Math.max(...attachTypes.values());
    for (const [name, { value }] of Object.entries(AttachType)) {
      expect({ name, value }).toEqual({ name, value: value > lastAttachType ? value : attachTypes.get(name) });
    }
  });

  it('lays out its bpf_attr members as the UAPI header does', () => {
    const workdir = mkdtempSync(join(tmpdir(), 'bpfgen-probe-attr-'));
    try {
      writeFileSync(
        join(workdir, 'offsets.c'),
        `#include <linux/bpf.h>
#include <stddef.h>
#include <stdio.h>
#define OFF(m) printf("\\"%s\\": %zu,\\n", #m, offsetof(union bpf_attr, m))
int main(void) {
  printf("{\\n");
  OFF(prog_type); OFF(insn_cnt); OFF(log_level); OFF(log_size); OFF(kern_version); OFF(prog_flags); OFF(expected_attach_type);
  OFF(map_type); OFF(key_size); OFF(value_size); OFF(max_entries); OFF(map_flags); OFF(inner_map_fd);
  OFF(btf_fd); OFF(btf_key_type_id); OFF(btf_value_type_id);
  printf("\\"btf_vmlinux_value_type_id\\": %zu\\n}\\n", offsetof(union bpf_attr, btf_vmlinux_value_type_id));
  return 0;
}
`,
      );
      execFileSync('cc', ['-o', join(workdir, 'offsets'), join(workdir, 'offsets.c')], { timeout: 60_000 });
      const c = JSON.parse(execFileSync(join(workdir, 'offsets'), { encoding: 'utf8', timeout: 10_000 })) as Record<string, number>;
      const u32At = (bytes: Uint8Array, offset: number) => new DataView(bytes.buffer).getUint32(offset, NATIVE_LITTLE_ENDIAN);
      const load = probeLoadAttr({ progType: 11, insns: new Uint8Array(24), expectedAttachType: 12, progFlags: 13, kernVersion: 14, log: new Uint8Array(15) });
      expect(['prog_type', 'insn_cnt', 'log_level', 'log_size', 'kern_version', 'prog_flags', 'expected_attach_type'].map((f) => u32At(load.bytes, c[f]!))).toEqual([11, 3, 1, 15, 14, 13, 12]);
      const map = probeMapAttr({ mapType: 21, keySize: 22, valueSize: 23, maxEntries: 24, flags: 25, innerMapFd: 26, btfFd: 27, btfKeyTypeId: 28, btfValueTypeId: 29, btfVmlinuxValueTypeId: 30 });
      const mapFields = ['map_type', 'key_size', 'value_size', 'max_entries', 'map_flags', 'inner_map_fd', 'btf_fd', 'btf_key_type_id', 'btf_value_type_id', 'btf_vmlinux_value_type_id'];
      expect(mapFields.map((f) => u32At(map.bytes, c[f]!))).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    } finally {
      rmSync(workdir, { recursive: true, force: true });
    }
  });

  it('finds ISA v2 and v3 everywhere, every part of v4 from Linux 6.6, which completed it, and gotol where the kernel runs it', () => {
    const v4 = kernelAtLeast(6, 6);
    for (const feature of ['v2', 'v3', 'v4', 'v4:sdiv_smod', 'v4:movsx', 'v4:memsx', 'v4:bswap'] as const) {
      const expected = feature.startsWith('v4') ? v4 : true;
      expect({ feature, supported: probeIsa(feature).supported }).toEqual({ feature, supported: expected });
    }
    expect(probeIsa('v4:gotol').supported).toBe(kernelRunsGotol());
  });

  it('finds XDP links (Linux 5.9), tcx (6.6), and netkit (6.7) only where the kernel was built with it', () => {
    expect(probeLink('bpf_link').supported).toBe(true);
    expect(probeLink('xdp').supported).toBe(kernelAtLeast(5, 9));
    expect(probeLink('tcx').supported).toBe(kernelAtLeast(6, 6));
    expect(probeLink('netkit').supported).toBe(kernelAtLeast(6, 7) && kernelConfig('CONFIG_NETKIT'));
  });

  describe('requireFeature', () => {
    it('returns quietly for a feature the kernel has', () => {
      expect(() => requireFeature('link:xdp')).not.toThrow();
      expect(() => requireFeature('map_type:ringbuf')).not.toThrow();
    });

    it('throws a FeatureError naming the feature, its release and the kernel reason', () => {
      // XDP programs never get bpf_skb_store_bytes: they have no skb. The
      // release is the later of the helper's (4.1) and the program type's (4.8).
      const error = (() => {
        try {
          requireFeature('helper:xdp:skb_store_bytes');
        } catch (caught) {
          return caught;
        }
        throw new Error('requireFeature did not throw');
      })();
      expect(error).toBeInstanceOf(FeatureError);
      expect(error).toBeInstanceOf(MissingFeatureError);
      expect(error).toMatchObject({ feature: 'bpf_skb_store_bytes in xdp programs', since: '4.8' });
      expect((error as Error).message).toMatch(
        /^bpf_skb_store_bytes in xdp programs: not available on this kernel \(.+\) although it is Linux 4\.8 or newer: the kernel has bpf_skb_store_bytes, but not for xdp programs$/,
      );
    });

    it('throws for what the kernel was built without, with the release that introduced it', () => {
      for (const [name, option, since] of [
        ['link:netkit', 'CONFIG_NETKIT', '6.7'],
        ['prog_type:lirc_mode2', 'CONFIG_BPF_LIRC_MODE2', '4.18'],
      ] as const) {
        if (kernelConfig(option)) expect(() => requireFeature(name)).not.toThrow();
        else expect(() => requireFeature(name)).toThrow(expect.objectContaining({ name: 'FeatureError', since }));
      }
    });

    it('says "needs Linux X" when the kernel predates the feature', () => {
      const status = probeFeature('link:netkit');
      const error = new MissingFeatureError({ ...status, supported: false, reason: 'EINVAL' }, '5.15.0');
      expect(error.message).toBe('netkit links (programs of netkit devices): needs Linux 6.7 or newer; this kernel is 5.15.0');
    });

    it('rejects names that are no feature, listing the forms', () => {
      expect(() => probeFeature('map_type:nonsense' as FeatureName)).toThrow(/no feature named 'map_type:nonsense': 'nonsense' is not a map type \(features are named prog_type:TYPE/);
      expect(() => probeFeature('helper:xdp:no_such_helper' as FeatureName)).toThrow(/'no_such_helper' is not a helper/);
      expect(() => probeFeature('isa:v5' as FeatureName)).toThrow(/'v5' is not a ISA feature/);
      expect(() => probeFeature('helper:tracing:map_lookup_elem')).toThrow(/helpers cannot be probed in tracing programs/);
    });
  });

  // They create no network namespace or device either (the link probes need none);
  // `ip netns list` cannot show it here, as other test files add theirs meanwhile.
  it('leaves no descriptor open and no XDP program on lo', async () => {
    const fdsBefore = openFdCount();
    // A fresh copy of the probe modules has an empty cache, so everything is asked again
    // (the helpers of one program type under emulation, of all of them on the host).
    vi.resetModules();
    const fresh = await import('../../src/loader/probes/index.js');
    const report = fresh.probeAll({ helperProgramTypes: EMULATED ? ['xdp'] : HELPER_PROBE_PROGRAM_TYPES });
    expect(report.links.map((status) => status.name)).toContain('link:xdp');
    expect(openFdCount()).toBe(fdsBefore);
    const [lo] = JSON.parse(execFileSync('ip', ['-j', '-d', 'link', 'show', 'lo'], { encoding: 'utf8', timeout: 10_000 })) as { xdp?: unknown }[];
    expect(lo!.xdp).toBeUndefined();
  });
});
