import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { alu } from '../../src/asm/alu.js';
import { callHelper, callLocal, exit } from '../../src/asm/func.js';
import { helperByName } from '../../src/asm/helpers.js';
import { encode, type Instruction } from '../../src/asm/instruction.js';
import { jcond } from '../../src/asm/jump.js';
import { atomic, ldImm64, ldPseudo, ldx, st } from '../../src/asm/load_store.js';
import { codecs } from '../../src/loader/maps.js';
import { attachXdp, BpfError, loadProgram, openProgramById, programIds, RelocationError, VerifierError } from '../../src/loader/index.js';
import { assembled, bpftool, compiledLoader, describeWithBpf, openFdCount, udpFrame } from './support.js';
import { emulationScaled } from '../support/emulation.js';

const XDP_DROP = 1;
const XDP_PASS = 2;
const XDP_TX = 3;

/** Fewer under emulation, where a load takes milliseconds rather than microseconds. */
const LOAD_CLOSE_CYCLES = emulationScaled(10_000, 1_000);
const returnPass = (): Instruction[] => [alu('MOV', true, 0, { imm: XDP_PASS }), exit()];

/** Counts runs in counters[0] (an array of one u64), then passes the packet. */
function countingProgram() {
  return assembled(
    'count',
    [
      st('W', 10, -4, 0),
      ldPseudo(1, 'MAP_FD', 0),
      alu('MOV', true, 2, { reg: 10 }),
      alu('ADD', true, 2, { imm: -4 }),
      callHelper(helperByName('map_lookup_elem')!.id),
      jcond('JEQ', true, 0, { imm: 0 }, 4),
      alu('MOV', true, 1, { imm: 1 }),
      atomic('DW', 'ADD', false, 0, 1, 0),
      alu('MOV', true, 0, { imm: XDP_PASS }),
      exit(),
      alu('MOV', true, 0, { imm: XDP_DROP }),
      exit(),
    ],
    {
      maps: [{ name: 'counters', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 }],
      relocations: [{ insn: 1, kind: 'map_fd', symbol: 'counters' }],
    },
  );
}

describeWithBpf('loadProgram', () => {
  it('loads `r0 = 2; exit` as XDP and the kernel runs it', () => {
    const program = loadProgram(assembled('pass', returnPass()));
    try {
      const packet = udpFrame();
      const result = program.testRun(packet, { repeat: 3 });
      expect(result.retval).toBe(XDP_PASS);
      expect(result.data).toEqual(packet);
      const shown = bpftool('prog', 'show', 'id', String(program.id)) as { id: number; tag: string; type: string; name: string };
      expect(shown).toMatchObject({ id: program.id, tag: program.tag, type: 'xdp', name: 'pass' });
    } finally {
      program.close();
    }
  });

  it('returns the packet as the program rewrote it', () => {
    const program = loadProgram(
      assembled('rewrite', [
        ldx('W', 2, 1, 0),
        ldx('W', 3, 1, 4),
        alu('MOV', true, 4, { reg: 2 }),
        alu('ADD', true, 4, { imm: 14 }),
        alu('MOV', true, 0, { imm: XDP_DROP }),
        jcond('JGT', true, 4, { reg: 3 }, 2),
        st('B', 2, 0, 0xff),
        alu('MOV', true, 0, { imm: XDP_TX }),
        exit(),
      ]),
    );
    try {
      const packet = udpFrame();
      const { retval, data } = program.testRun(packet);
      expect(retval).toBe(XDP_TX);
      expect(data[0]).toBe(0xff);
      expect(data.subarray(1)).toEqual(packet.subarray(1));
      expect(program.testRun(new Uint8Array(14)).retval).toBe(XDP_TX);
    } finally {
      program.close();
    }
  });

  it('passes an input context and returns the output context', () => {
    // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex }: returns ingress_ifindex.
    const program = loadProgram(assembled('ifindex', [ldx('W', 0, 1, 12), exit()]));
    try {
      const packet = udpFrame();
      const ctx = codecs.struct({ data: codecs.u32, dataEnd: codecs.u32, dataMeta: codecs.u32, ingress: codecs.u32, queue: codecs.u32, egress: codecs.u32 });
      const lo = Number(readFileSync('/sys/class/net/lo/ifindex', 'utf8'));
      const input = { data: 0, dataEnd: packet.byteLength, dataMeta: 0, ingress: lo, queue: 0, egress: 0 };
      const result = program.testRun(packet, { ctx: ctx.encode(input) });
      expect(result.retval).toBe(lo);
      expect(ctx.decode(result.ctx!)).toEqual(input);
    } finally {
      program.close();
    }
  });

  it('creates the maps, patches map fds, and the program updates the map', () => {
    const program = loadProgram(countingProgram());
    try {
      expect(program.testRun(udpFrame(), { repeat: 5 }).retval).toBe(XDP_PASS);
      const counters = program.map('counters', codecs.u32, codecs.u64);
      expect(counters.get(0)).toBe(5n);
      const info = program.info();
      expect(info.mapIds).toEqual([counters.info().id]);
      const shown = bpftool('prog', 'show', 'id', String(program.id)) as Record<string, unknown>;
      expect(shown).toMatchObject({ name: info.name, tag: info.tag, bytes_xlated: info.xlatedLength, bytes_jited: info.jitedLength, map_ids: info.mapIds, uid: info.createdByUid });
      expect(info.typeName).toBe('xdp');
      expect(bpftool('map', 'show', 'id', String(counters.info().id))).toMatchObject({ type: 'array', name: 'counters', bytes_key: 4, bytes_value: 8, max_entries: 1 });
    } finally {
      program.close();
    }
  });

  it('reuses a map passed in and leaves it open on close', () => {
    const first = loadProgram(countingProgram());
    const counters = first.map('counters', codecs.u32, codecs.u64);
    const second = loadProgram(countingProgram(), { maps: { counters } });
    try {
      second.testRun(udpFrame(), { repeat: 2 });
      first.testRun(udpFrame());
      expect(counters.get(0)).toBe(3n);
      second.close();
      expect(counters.get(0)).toBe(3n);
    } finally {
      second.close();
      first.close();
    }
    expect(counters.closed).toBe(true);
  });

  it('resolves map_value relocations to the map value plus the addend', () => {
    const program = loadProgram(
      assembled('config', [ldPseudo(1, 'MAP_VALUE', 0, 0), ldx('W', 0, 1, 0), exit()], {
        maps: [{ name: 'config', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 }],
        relocations: [{ insn: 0, kind: 'map_value', symbol: 'config', addend: 4 }],
      }),
    );
    try {
      const config = program.map('config', codecs.u32, codecs.struct({ first: codecs.u32, second: codecs.u32 }));
      config.set(0, { first: 11, second: XDP_TX });
      expect(program.testRun(udpFrame()).retval).toBe(XDP_TX);
    } finally {
      program.close();
    }
  });

  it('loads bpf-to-bpf calls that the assembler made pc-relative', () => {
    const program = loadProgram(
      assembled('caller', [callLocal(1), exit(), alu('MOV', true, 0, { imm: XDP_TX }), exit()], {
        functions: [
          { name: 'caller', insn: 0, length: 2, entry: true },
          { name: 'tx', insn: 2, length: 2, entry: false },
        ],
        relocations: [{ insn: 0, kind: 'call', symbol: 'tx' }],
      }),
    );
    try {
      expect(program.testRun(udpFrame()).retval).toBe(XDP_TX);
    } finally {
      program.close();
    }
  });

  it('rejects a call whose offset does not reach its symbol, naming the call site', () => {
    const broken = assembled('caller', [callLocal(2), exit(), alu('MOV', true, 0, { imm: XDP_TX }), exit()], {
      functions: [
        { name: 'caller', insn: 0, length: 2, entry: true },
        { name: 'tx', insn: 2, length: 2, entry: false },
      ],
      relocations: [{ insn: 0, kind: 'call', symbol: 'tx' }],
      sourceMap: [{ file: 'src/programs/caller.ts', line: 7 }, undefined, undefined, undefined],
    });
    expect(() => loadProgram(broken)).toThrow(RelocationError);
    expect(() => loadProgram(broken)).toThrow('src/programs/caller.ts:7: call relocation of tx: imm is 2, but tx starts 1 slots after the call');
  });

  it('reports a verifier rejection at the instruction and DSL call site the log names', () => {
    // The ld_imm64 first makes slot numbers (the kernel's) differ from instruction indexes.
    const insns = [ldImm64(1, 0x1234n), alu('MOV', true, 2, { imm: 0 }), ldx('W', 0, 2, 0), exit()];
    const program = assembled('broken', insns, {
      sourceMap: insns.map((_, index) => ({ file: 'src/programs/broken.ts', line: 40 + index })),
    });
    let caught: unknown;
    try {
      loadProgram(program).close();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(VerifierError);
    const error = caught as VerifierError;
    expect(error.insn).toBe(2);
    expect(error.slot).toBe(3);
    expect(error.at).toEqual({ file: 'src/programs/broken.ts', line: 42 });
    expect(error.message).toBe("src/programs/broken.ts:42: R2 invalid mem access 'scalar' (insn 3: w0 = *(u32 *)(r2 + 0x0))");
    expect(error.code).toBe('EACCES');
    expect(error.log).toContain("3: (61) r0 = *(u32 *)(r2 +0)");
  });

  it('explains a rejection that happens before the walk, from the prose of the log', () => {
    const program = assembled('deadcode', [alu('MOV', true, 0, { imm: 0 }), exit(), exit()]);
    const error = (() => {
      try {
        loadProgram(program).close();
      } catch (caught) {
        return caught as VerifierError;
      }
      throw new Error('the kernel accepted an unreachable instruction');
    })();
    expect(error).toBeInstanceOf(VerifierError);
    expect(error.slot).toBe(2);
    expect(error.message).toBe('deadcode insn 2: unreachable insn 2 (insn 2: exit)');
  });

  it('keeps the log of a successful load on request, growing the buffer on ENOSPC', () => {
    const program = loadProgram(countingProgram(), { logLevel: 2, logSize: 64 });
    try {
      expect(program.verifierLog.length).toBeGreaterThan(64);
      expect(program.verifierLog).toMatch(/processed \d+ insns/);
    } finally {
      program.close();
    }
  });

  it('returns the translated instructions the kernel reports', () => {
    const program = loadProgram(countingProgram());
    try {
      const xlated = program.xlated();
      type Dumped = { opcodes: { code: string; src_reg: string; dst_reg: string; off: string[]; imm: string[] } };
      const dump = bpftool('prog', 'dump', 'xlated', 'id', String(program.id), 'opcodes') as Dumped[];
      // bpftool prints each instruction's bytes: code, registers, off, then imm (12 bytes for ld_imm64, covering its second slot).
      const kernelBytes = dump.flatMap(({ opcodes }) => [
        Number(opcodes.code),
        (Number(opcodes.src_reg) << 4) | Number(opcodes.dst_reg),
        ...opcodes.off.map(Number),
        ...opcodes.imm.map(Number),
      ]);
      expect(xlated.length).toBe(dump.length);
      expect(Array.from(encode(xlated))).toEqual(kernelBytes);
      // The kernel rewrote the map fd into a map id and the helper call into a direct one.
      expect(xlated).not.toEqual(countingProgram().insns);
    } finally {
      program.close();
    }
  });

  it('finds the program by id', () => {
    const program = loadProgram(assembled('byid', returnPass()));
    try {
      expect([...programIds()]).toContain(program.id);
      const fd = openProgramById(program.id);
      try {
        expect(bpftool('prog', 'show', 'id', String(program.id))).toMatchObject({ tag: program.tag });
      } finally {
        fd.close();
      }
    } finally {
      program.close();
    }
    expect(() => openProgramById(program.id)).toThrow(`no program has id ${program.id}`);
  });

  it('explains EINVAL from attributes the kernel refuses before verifying', () => {
    const error = (() => {
      try {
        loadProgram(assembled('cgroup', returnPass(), { type: 'cgroup_skb' }), { expectedAttachType: 'xdp' }).close();
      } catch (caught) {
        return caught as BpfError;
      }
      throw new Error('the kernel accepted a cgroup_skb program expecting the xdp attach type');
    })();
    expect(error).toBeInstanceOf(BpfError);
    expect(error.code).toBe('EINVAL');
    expect(error.message).toContain('program type cgroup_skb, expected attach type xdp');
  });

  it(`closes every descriptor: ${LOAD_CLOSE_CYCLES.toLocaleString('en')} load/close cycles leave the fd count unchanged`, () => {
    const program = countingProgram();
    loadProgram(program).close();
    const before = openFdCount();
    for (let i = 0; i < LOAD_CLOSE_CYCLES; i++) loadProgram(program).close();
    expect(openFdCount()).toBe(before);
  });
});

describeWithBpf('XDP links', () => {
  const veth = 'bpfgenxdp0';
  beforeAll(() => {
    execFileSync('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`], { timeout: 10_000 });
  });
  afterAll(() => {
    execFileSync('ip', ['link', 'del', veth], { timeout: 10_000 });
  });

  const attachedProgramId = (): number | undefined => {
    const [link] = JSON.parse(execFileSync('ip', ['-j', '-d', 'link', 'show', veth], { encoding: 'utf8', timeout: 10_000 })) as { xdp?: { prog?: { id: number } } }[];
    return link?.xdp?.prog?.id;
  };

  it('attaches, swaps, detaches and closes', () => {
    const first = loadProgram(assembled('first', returnPass()));
    const second = loadProgram(assembled('second', returnPass()));
    try {
      const link = attachXdp(first, veth, 'skb');
      expect(attachedProgramId()).toBe(first.id);
      link.update(second, first);
      expect(attachedProgramId()).toBe(second.id);
      expect(() => link.update(first, first)).toThrow('the link still runs a program other than the expected one');
      link.detach();
      expect(attachedProgramId()).toBeUndefined();
      link.close();
      const again = attachXdp(first, veth, 'skb');
      expect(attachedProgramId()).toBe(first.id);
      again.close();
      expect(attachedProgramId()).toBeUndefined();
    } finally {
      first.close();
      second.close();
    }
  });

  it('names a missing interface', () => {
    const program = loadProgram(assembled('nowhere', returnPass()));
    try {
      expect(() => attachXdp(program, 'bpfgen-none0')).toThrow('no network interface named bpfgen-none0');
    } finally {
      program.close();
    }
  });
});

describeWithBpf('descriptor safety net', () => {
  let loader: ReturnType<typeof compiledLoader>;
  beforeAll(() => {
    loader = compiledLoader();
    writeFileSync(
      join(loader.dir, 'leak.mjs'),
      `import { readdirSync } from 'node:fs';
import { createMap } from './dist/loader/index.js';
const count = () => readdirSync('/proc/self/fd').length;
const before = count();
for (let i = 0; i < 200; i++) createMap({ name: 'dropped', type: 'hash', keySize: 4, valueSize: 4, maxEntries: 1 });
const leaked = count() - before;
for (let round = 0; round < 20 && count() > before; round++) {
  globalThis.gc();
  await new Promise((resolve) => setTimeout(resolve, 10));
}
console.log(JSON.stringify({ leaked, after: count() - before }));
`,
    );
  });
  afterAll(() => {
    loader.dispose();
  });

  it('closes the descriptors of handles collected without close()', () => {
    const child = spawnSync(process.execPath, ['--expose-gc', join(loader.dir, 'leak.mjs')], { encoding: 'utf8', timeout: 60_000 });
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual({ leaked: 200, after: 0 });
  });
});
