/**
 * A complete bpfgen program: count IPv4/UDP packets sent to one DNS server
 * in a per-CPU array map, from XDP, and pass every packet on. The server's
 * address and port are this host's settings, inlined as immediates in
 * network byte order when the program is built.
 */
import { ProgramBuilder, be16, ipv4, packet, r0, r1, r2, r3, r4, r10, type AssembledProgram } from '../src/index.js';

export function buildDnsCounter(serverIp: string, serverPort = 53): AssembledProgram {
  const b = new ProgramBuilder({
    name: 'count_dns',
    type: 'xdp',
    license: 'GPL',
    maps: [{ name: 'hits', type: 'percpu_array', keySize: 4, valueSize: 8, maxEntries: 1 }],
  });
  const { Ipv4, Udp, XdpAction } = packet;

  // r2 = data, r3 = data_end; bounds-checked Ethernet + IPv4 (IHL 5) + UDP, or jump to 'pass'.
  packet.loadPacketPointers(b, 'xdp', r1, { data: r2, dataEnd: r3 });
  const at = packet.requireIpv4Udp(b, { data: r2, dataEnd: r3, scratch: r4 }, 'pass');

  b.ldx('u16', r4, r2, at.udp + Udp.dport);
  b.jne(r4, be16(serverPort), 'pass');
  b.ldx('u32', r4, r2, at.ip + Ipv4.daddr);
  b.jne(r4.w, ipv4(serverIp), 'pass');

  // value = map_lookup_elem(&hits, &key) with key 0 on the stack.
  b.st('u32', r10, -4, 0);
  b.mov(r2, r10);
  b.add(r2, -4);
  b.ldMap(r1, 'hits');
  b.call('map_lookup_elem', r1, r2);
  b.jeq(r0, 0, 'pass');
  b.mov(r1, 1);
  b.atomic('add', 'u64', r0, 0, r1);

  b.label('pass');
  b.ret(XdpAction.PASS);
  return b.assemble();
}
