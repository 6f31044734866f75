import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HELPERS, helperById, helperByName } from '../src/asm/helpers.js';

const HEADER = '/usr/include/linux/bpf.h';
const KERNEL_BTF = '/sys/kernel/btf/vmlinux';

interface HeaderHelper {
  readonly id: number;
  readonly args: number;
  readonly variadic: boolean;
}

/**
 * Helpers as the UAPI header declares them: ids from the FN(...) list of
 * __BPF_FUNC_MAPPER (older headers: FN(name), numbered by position from
 * unspec = 0; newer: FN(name, id, ...)), argument counts from the
 * documentation comment's prototypes, e.g.
 * ` * long bpf_map_update_elem(struct bpf_map *map, const void *key, const void *value, u64 flags)`.
 */
function parseHeader(text: string): Map<string, HeaderHelper> {
  const mapper = /#define\s+_*BPF_FUNC_MAPPER\(FN(?:, ctx\.\.\.)?\)([\s\S]*?)\n\s*\/\*/.exec(text);
  if (!mapper) throw new Error('no __BPF_FUNC_MAPPER in the header');
  const ids = new Map<string, number>();
  let position = 0;
  for (const m of mapper[1]!.matchAll(/FN\((\w+)(?:,\s*(\d+))?/g)) {
    ids.set(m[1]!, m[2] === undefined ? position : Number(m[2]));
    position++;
  }
  const prototypes = new Map<string, { args: number; variadic: boolean }>();
  for (const m of text.matchAll(/^ \* [\w\s*]+?\bbpf_(\w+)\(([^)]*)\)\s*$/gm)) {
    const params = m[2]!.split(',').map((p) => p.trim()).filter((p) => p !== '' && p !== 'void');
    const variadic = params.at(-1) === '...';
    prototypes.set(m[1]!, { args: params.length - (variadic ? 1 : 0), variadic });
  }
  const out = new Map<string, HeaderHelper>();
  for (const [name, id] of ids) {
    if (id === 0) continue; // unspec
    const prototype = prototypes.get(name);
    if (!prototype) throw new Error(`no documented prototype for bpf_${name}`);
    out.set(name, { id, ...prototype });
  }
  return out;
}

describe('helper table', () => {
  it.skipIf(!existsSync(HEADER))(`matches every helper of ${HEADER}: id and argument count`, () => {
    const header = parseHeader(readFileSync(HEADER, 'utf8'));
    expect(header.size).toBeGreaterThan(200);
    for (const [name, expected] of header) {
      const ours = helperByName(name);
      expect(ours, name).toBeDefined();
      expect(ours!.id, name).toBe(expected.id);
      expect(ours!.args, name).toBe(expected.args);
      // A variadic helper passes at most five arguments, r1-r5.
      expect(ours!.maxArgs, name).toBe(expected.variadic ? 5 : undefined);
    }
    console.log(`checked ${header.size} helpers against ${HEADER}; table has ${HELPERS.length}`);
  });

  if (!existsSync(HEADER)) console.log(`skipped the header comparison: ${HEADER} is missing (install linux-libc-dev)`);

  it.skipIf(!existsSync(KERNEL_BTF))('matches the running kernel\'s enum bpf_func_id, names and ids, read from its BTF', () => {
    let dump: string;
    try {
      dump = execFileSync('bpftool', ['btf', 'dump', 'file', KERNEL_BTF], { encoding: 'utf8', maxBuffer: 256 << 20 });
    } catch (error) {
      console.log(`skipped the kernel BTF comparison: bpftool failed (${(error as Error).message.split('\n')[0]})`);
      return;
    }
    const kernel = new Map([...dump.matchAll(/'BPF_FUNC_(\w+)' val=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
    kernel.delete('unspec');
    expect(kernel.size).toBeGreaterThan(200);
    for (const [name, id] of kernel) expect(helperByName(name)?.id, name).toBe(id);
    // Every helper of ours the kernel knows has the same id; newer ones would be missing from an older kernel.
    for (const helper of HELPERS) if (kernel.has(helper.name)) expect(kernel.get(helper.name)).toBe(helper.id);
  });

  it('is indexed both ways and dense from 1', () => {
    HELPERS.forEach((helper, i) => {
      expect(helper.id).toBe(i + 1);
      expect(helperById(helper.id)).toBe(helper);
      expect(helperByName(helper.name)).toBe(helper);
      expect(helper.args).toBeLessThanOrEqual(5);
    });
    expect(helperById(0)).toBeUndefined();
    expect(helperByName('bpf_map_lookup_elem')).toBeUndefined();
  });
});
