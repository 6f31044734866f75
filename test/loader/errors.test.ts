import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mapCreateAttr, progLoadAttr } from '../../src/loader/attr.js';
import { Errno, type SyscallError } from '../../src/loader/errno.js';
import { bpfErrorFrom, BpfError, FeatureError, PermissionError } from '../../src/loader/errors.js';
import { compiledLoader, describeWithBpf } from './support.js';

function syscallError(code: string): SyscallError {
  return Object.assign(new Error(`bpf: ${code}`), { errno: Errno[code]!, code, syscall: 'bpf' });
}

describe('bpfErrorFrom', () => {
  it('blames a field newer than the kernel for E2BIG', () => {
    const request = progLoadAttr({ type: 'xdp', insns: new Uint8Array(8), license: 'GPL', name: 'named' });
    const error = bpfErrorFrom(request, syscallError('E2BIG'), {}, '4.14.302');
    expect(error).toBeInstanceOf(FeatureError);
    expect(error.message).toBe('bpf_attr(PROG_LOAD).prog_name: needs Linux 4.15 or newer; this kernel is 4.14.302');
  });

  it('blames a map type newer than the kernel for EINVAL', () => {
    const request = mapCreateAttr({ type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 4096 });
    const error = bpfErrorFrom(request, syscallError('EINVAL'), {}, '5.4.0-150-generic');
    expect(error).toMatchObject({ name: 'FeatureError', feature: 'ringbuf maps', since: '5.8', kernelRelease: '5.4.0-150-generic' });
  });

  it('explains EINVAL on a kernel that has every feature, preferring the call site hint', () => {
    const request = mapCreateAttr({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1 });
    const generic = bpfErrorFrom(request, syscallError('EINVAL'), {}, '6.18.0');
    expect(generic).toBeInstanceOf(BpfError);
    expect(generic.message).toBe('bpf(BPF_MAP_CREATE) failed with EINVAL: the kernel rejected an argument of BPF_MAP_CREATE: a type, size or flag it does not accept');
    const hinted = bpfErrorFrom(request, syscallError('EINVAL'), { EINVAL: 'map m is odd' }, '6.18.0');
    expect(hinted.message).toBe('bpf(BPF_MAP_CREATE) failed with EINVAL: map m is odd');
  });

  it('names the privileges for EPERM', () => {
    const request = mapCreateAttr({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1 });
    const error = bpfErrorFrom(request, syscallError('EPERM'));
    expect(error).toBeInstanceOf(PermissionError);
    for (const word of ['root', 'CAP_BPF', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN']) expect(error.message).toContain(word);
  });
});

describe('without the native shim', () => {
  it('fails to make system calls with the cause, while the encoders keep working', async () => {
    vi.resetModules();
    vi.doMock('node:fs', async (importOriginal) => {
      const fs = await importOriginal<typeof import('node:fs')>();
      return { ...fs, existsSync: (path: string) => (String(path).endsWith('.node') ? false : fs.existsSync(path)) };
    });
    try {
      const loader = await import('../../src/loader/index.js');
      expect(loader.nativeUnavailableReason()).toMatch(/^the native shim is not built \(no build\/Release\/bpfgen_shim\.node under .*\); build it with `node scripts\/build-shim\.mjs`/);
      expect(() => loader.createMap({ name: 'm', type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1 })).toThrow(loader.NativeUnavailableError);
      expect(() => loader.createMap({ name: 'm', type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1 })).toThrow('bpfgen cannot make system calls: the native shim is not built');
      const attr = await import('../../src/loader/attr.js');
      expect(attr.mapCreateAttr({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1 }).attr.bytes.byteLength).toBe(72);
    } finally {
      vi.doUnmock('node:fs');
      vi.resetModules();
    }
  });
});

describeWithBpf('without privileges', () => {
  // The child runs the loader compiled to JavaScript, as a user with no capabilities.
  let loader: ReturnType<typeof compiledLoader>;
  beforeAll(() => {
    loader = compiledLoader();
    writeFileSync(
      join(loader.dir, 'child.mjs'),
      `import { loadProgram, createMap } from './dist/loader/index.js';
const insns = [{ code: 0xb7, dst: 0, src: 0, off: 0, imm: 2 }, { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 }];
const program = { name: 'pass', type: 'xdp', license: 'GPL', insns, bytes: new Uint8Array(16), relocations: [], functions: [], labels: [], maps: [], sourceMap: [] };
const report = (fn) => { try { fn(); return { ok: true }; } catch (e) { return { name: e.name, code: e.code, message: e.message }; } };
console.log(JSON.stringify({
  load: report(() => loadProgram(program)),
  map: report(() => createMap({ name: 'm', type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1 })),
}));
`,
    );
  });
  afterAll(() => {
    loader.dispose();
  });

  it('explains EPERM with the capabilities to grant', () => {
    const child = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', process.execPath, join(loader.dir, 'child.mjs')],
      { encoding: 'utf8', timeout: 60_000, cwd: loader.dir },
    );
    expect(child.stderr).toBe('');
    const result = JSON.parse(child.stdout) as Record<string, { name: string; code: string; message: string }>;
    for (const attempt of [result.load!, result.map!]) {
      expect(attempt).toMatchObject({ name: 'PermissionError', code: 'EPERM' });
      for (const word of ['root', 'CAP_BPF', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN']) expect(attempt.message).toContain(word);
    }
    expect(result.load!.message).toMatch(/^bpf\(BPF_PROG_LOAD\) was not permitted \(EPERM\): /);
  });
});
