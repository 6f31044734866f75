import { afterAll, expect, it } from 'vitest';
import { buildDnsCounter } from '../examples/count-dns.js';
import { codecs, loadProgram, type Program } from '../src/index.js';
import { describeWithBpf } from './loader/support.js';
import { ipv4UdpFrame } from './support/packets.js';

// The README's DSL example, run in the kernel so the documentation cannot rot.
describeWithBpf('README example: count-dns', () => {
  const opened: Program[] = [];
  afterAll(() => opened.forEach((p) => p.close()));

  it('counts only UDP to the configured server and passes everything', () => {
    const program = loadProgram(buildDnsCounter('192.0.2.53'));
    opened.push(program);
    const query = (dst: string, dstPort: number) => ipv4UdpFrame({ ip: { src: '198.51.100.7', dst }, udp: { srcPort: 40000, dstPort } });

    const runs: [Uint8Array, number][] = [
      [query('192.0.2.53', 53), 3],
      [query('192.0.2.54', 53), 2],
      [query('192.0.2.53', 5353), 2],
    ];
    for (const [frame, repeat] of runs) expect(program.testRun(frame, { repeat }).retval).toBe(2 /* XDP_PASS */);

    const perCpu = program.perCpuMap('hits', codecs.u32, codecs.u64).get(0)!;
    expect(perCpu.reduce((a, b) => a + b, 0n)).toBe(3n);
  });
});
