/**
 * tc-dns-redirect end to end, in a pair of namespaces laid out like Docker's
 * (docker-pair.ts): ctr, the container with a local resolver on
 * 127.0.0.11:35353, and up, with dnsmasq upstream resolvers.
 *
 * The library API attaches from inside ctr (driver.mjs, since a test cannot
 * enter a namespace). The kernel and real tools judge: `dig @127.0.0.11 -p
 * 35353` gives the upstream's answer when attached through tcx or netlink
 * and the local one when detached; where the programs are attached is read
 * from the attaching process's link fdinfo (tcx) and from `tc` and `bpftool
 * net` (netlink); checksums are verified by the receiving kernel (the
 * `Udp: InCsumErrors` counter, and whether a socket gets the datagram):
 *
 * - locally sent UDP is CHECKSUM_PARTIAL; with transmit checksumming off on
 *   the veth ends the kernel computes the final checksum in software from
 *   what the programs left, and the receiver verifies it;
 * - with it on, answers stay CHECKSUM_PARTIAL into lo, and the checksum
 *   field captured there must be the new pseudo-header sum;
 * - raw frames with full checksums, sent with AF_PACKET, arrive in both
 *   directions, and a control frame with a bad checksum is dropped.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompiledCli } from '../cli/compiled-cli.js';
import { describeWithBpf } from '../loader/support.js';
import { kernelAtLeast } from '../support/kernel.js';
import { Netns, type NetnsProcess } from '../support/netns.js';
import { ipv4UdpFrame, onesComplementSum, parseFrame, udpDatagram } from '../support/packets.js';
import { ANSWER, CONTAINER_IP, HERE, NAME, RESOLVER, RESOLVER_PORT, SECOND_UPSTREAM_IP, startDockerPair, UPSTREAM_IP, type DockerPair, type TcFilterJson } from './docker-pair.js';

const RAWUDP = join(HERE, 'rawudp.py');

/** tcx links came with Linux 6.6; older kernels have only clsact and netlink filters. */
const HAS_TCX = kernelAtLeast(6, 6);
const TCX_REFUSAL = /^tcx links \(tc ingress and egress without qdiscs\): needs Linux 6\.6 or newer; this kernel is \S+$/;
/** tp_status bit of PACKET_AUXDATA: the skb's checksum is still to be computed (CHECKSUM_PARTIAL). */
const TP_STATUS_CSUMNOTREADY = 1 << 3;

interface DriverMessage {
  readonly event: 'attached' | 'updated' | 'closed' | 'error';
  readonly message?: string;
  readonly lines?: string[];
  readonly info?: { method: string; lo: { ifindex: number; programId: number }; eth: { ifindex: number; programId: number } };
}

/** The library, driven from inside a namespace over an IPC channel (driver.mjs). */
class Driver {
  readonly #messages: DriverMessage[] = [];

  private constructor(readonly process: NetnsProcess) {
    process.child.on('message', (message) => this.#messages.push(message as DriverMessage));
  }

  static start(netns: Netns, dist: string, options: Record<string, unknown>): Driver {
    return new Driver(
      netns.start(process.execPath, [join(HERE, 'driver.mjs'), dist], { ipc: true, env: { ...process.env, DNS_REDIRECT_OPTIONS: JSON.stringify(options) } }),
    );
  }

  async next(timeoutMs = 20_000): Promise<DriverMessage> {
    const deadline = Date.now() + timeoutMs;
    while (this.#messages.length === 0) {
      if (this.process.exit || Date.now() > deadline) {
        throw new Error(`the driver sent nothing (${this.process.exit ? `exited ${JSON.stringify(this.process.exit)}` : 'timed out'}); stderr: ${this.process.stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.#messages.shift()!;
  }

  async expect(event: DriverMessage['event']): Promise<DriverMessage> {
    const message = await this.next();
    if (message.event !== event) throw new Error(`expected '${event}' from the driver, got ${JSON.stringify(message)}`);
    return message;
  }

  send(message: Record<string, unknown>): void {
    this.process.child.send(message);
  }
}

/** The tcx links a process holds, as the kernel prints them in /proc/PID/fdinfo. */
function tcxLinks(pid: number): { linkId: number; progId: number; ifindex: number; attachType: string }[] {
  const dir = `/proc/${pid}/fdinfo`;
  return readdirSync(dir)
    .map((fd) => Object.fromEntries(readFileSync(join(dir, fd), 'utf8').split('\n').map((line) => line.split(':\t') as [string, string])))
    .filter((fields) => fields.link_type === 'tcx')
    .map((fields) => ({ linkId: Number(fields.link_id), progId: Number(fields.prog_id), ifindex: Number(fields.ifindex), attachType: fields.attach_type! }))
    .sort((a, b) => a.ifindex - b.ifindex);
}


describeWithBpf('tc-dns-redirect in a Docker-like pair of namespaces', () => {
  let pair: DockerPair;
  let ctr: Netns;
  let up: Netns;
  let cli: CompiledCli;
  let ethIfindex: number;
  let before: string;
  beforeAll(async () => {
    pair = await startDockerPair();
    ({ ctr, up, cli, ethIfindex, before } = pair);
  }, 180_000);
  afterAll(async () => {
    await pair?.dispose();
  });

  const dig = (): string => pair.dig();
  const snapshot = (): string => pair.snapshot();
  const filters = (dev: string): TcFilterJson[] => pair.filters(dev);
  const udpErrors = (netns: Netns) => netns.snmp('Udp').InCsumErrors!;

  /** Start `rawudp.py receive` in ctr on 127.0.0.1:port, run `act`, and return what it got. */
  const receiveWhile = async (port: number, act: () => void): Promise<{ received: boolean; peer?: string; peerPort?: number; payload?: string }> => {
    const receiver = ctr.start('python3', [RAWUDP, 'receive', '127.0.0.1', String(port), '2']);
    await receiver.waitForOutput(/"ready"/);
    act();
    await receiver.waitForExit(10_000);
    return JSON.parse(receiver.stdout.trim().split('\n').at(-1)!);
  };

  const sendFrame = (netns: Netns, iface: string, frame: Uint8Array): void => {
    netns.execOk('python3', [RAWUDP, 'send', iface, Buffer.from(frame).toString('hex')]);
  };

  const macOf = (netns: Netns, iface: string): string => (JSON.parse(netns.execOk('ip', ['-j', 'link', 'show', iface])) as { address: string }[])[0]!.address;

  const options = (attach: string) => ({ resolver: RESOLVER, upstream: `${UPSTREAM_IP}:53`, containerIp: CONTAINER_IP, lo: 'lo', eth: 'eth0', attach, setRouteLocalnet: true });

  it('detached, the local resolver answers', () => {
    expect(dig()).toBe(ANSWER.local);
  });

  it('refuses to attach while route_localnet is 0, naming the sysctl, and leaves nothing behind', async () => {
    expect(ctr.execOk('sysctl', ['-n', 'net.ipv4.conf.lo.route_localnet']).trim()).toBe('0');
    const driver = Driver.start(ctr, join(cli.dir, 'dist'), { ...options('auto'), setRouteLocalnet: false });
    const refused = await driver.expect('error');
    expect(refused.message).toMatch(/net\.ipv4\.conf\.lo\.route_localnet is 0 .*martians.*--set-route-localnet/);
    await driver.process.waitForExit(10_000);
    expect(snapshot()).toBe(before);
    expect(dig()).toBe(ANSWER.local);
  });

  if (!HAS_TCX) {
    it('through tcx, refuses with a FeatureError naming tcx and Linux 6.6, and leaves nothing behind', async () => {
      const driver = Driver.start(ctr, join(cli.dir, 'dist'), options('tcx'));
      const refused = await driver.expect('error');
      expect(refused.message).toMatch(TCX_REFUSAL);
      await driver.process.waitForExit(10_000);
      expect(snapshot()).toBe(before);
      expect(dig()).toBe(ANSWER.local);
    });
  }

  describe.each(HAS_TCX ? (['tcx', 'netlink'] as const) : (['netlink'] as const))('attached through %s', (method) => {
    let driver: Driver;
    let attached: DriverMessage;
    let linkIds: number[] = [];

    it('attaches both programs and sets route_localnet', async () => {
      driver = Driver.start(ctr, join(cli.dir, 'dist'), options(method));
      attached = await driver.expect('attached');
      expect(attached.info?.method).toBe(method);
      expect(attached.lines?.join('\n')).toContain(`through ${method}`);
      expect(ctr.execOk('sysctl', ['-n', 'net.ipv4.conf.lo.route_localnet']).trim()).toBe('1');
    });

    it("dig @127.0.0.11 gets the upstream's answer", () => {
      expect(dig()).toBe(ANSWER.upstream);
    });

    it(method === 'tcx' ? 'lo and eth0 each run one tcx program, and there are no tc filters' : 'lo and eth0 each have one direct-action filter, which bpftool net shows, and no tcx link', () => {
      const info = attached.info!;
      const links = tcxLinks(driver.process.pid);
      if (method === 'tcx') {
        linkIds = links.map((link) => link.linkId);
        expect(links.map(({ ifindex, progId, attachType }) => ({ ifindex, progId, attachType }))).toEqual([
          { ifindex: 1, progId: info.lo.programId, attachType: '46 (ingress)' },
          { ifindex: ethIfindex, progId: info.eth.programId, attachType: '46 (ingress)' },
        ]);
        expect(filters('lo')).toEqual([]);
        expect(filters('eth0')).toEqual([]);
      } else {
        expect(links).toEqual([]);
        for (const [dev, name, id] of [
          ['lo', 'dns_redir_lo', info.lo.programId],
          ['eth0', 'dns_redir_eth', info.eth.programId],
        ] as const) {
          expect(filters(dev).map((f) => ({ kind: f.kind, pref: f.pref, handle: f.options?.handle, da: f.options?.['direct-action'], id: f.options?.prog?.id, name: f.options?.prog?.name }))).toEqual([
            { kind: 'bpf', pref: 1, handle: '0x1', da: true, id, name },
          ]);
        }
        const net = JSON.parse(ctr.execOk('bpftool', ['-j', 'net'])) as { tc: { devname: string; kind: string; id: number }[] }[];
        expect(net[0]!.tc.map(({ devname, kind, id }) => ({ devname, kind, id })).sort((a, b) => a.devname.localeCompare(b.devname))).toEqual([
          { devname: 'eth0', kind: 'clsact/ingress', id: info.eth.programId },
          { devname: 'lo', kind: 'clsact/ingress', id: info.lo.programId },
        ]);
      }
    });

    it('with transmit checksumming off, the kernel finishes the CHECKSUM_PARTIAL checksums in software and both receivers accept them', () => {
      const errors = { ctr: udpErrors(ctr), up: udpErrors(up) };
      ctr.execOk('ethtool', ['-K', 'eth0', 'tx', 'off']);
      up.execOk('ethtool', ['-K', 'veth-ctr', 'tx', 'off']);
      try {
        expect(dig()).toBe(ANSWER.upstream);
      } finally {
        ctr.execOk('ethtool', ['-K', 'eth0', 'tx', 'on']);
        up.execOk('ethtool', ['-K', 'veth-ctr', 'tx', 'on']);
      }
      expect({ ctr: udpErrors(ctr), up: udpErrors(up) }).toEqual(errors);
    });

    it('an answer that stays CHECKSUM_PARTIAL reaches lo with the new pseudo-header sum in its checksum field', async () => {
      const capture = ctr.start('python3', [RAWUDP, 'capture', 'lo', '127.0.0.11', String(RESOLVER_PORT), '5']);
      await capture.waitForOutput(/"ready"/);
      expect(dig()).toBe(ANSWER.upstream);
      await capture.waitForExit(10_000);
      const seen = JSON.parse(capture.stdout.trim().split('\n').at(-1)!) as { frame: string | null; status?: number };
      expect(seen.frame, 'an answer from 127.0.0.11 captured on lo').not.toBeNull();
      const frame = parseFrame(Buffer.from(seen.frame!, 'hex'));
      expect(seen.status! & TP_STATUS_CSUMNOTREADY, 'tp_status says CHECKSUM_PARTIAL').toBe(TP_STATUS_CSUMNOTREADY);
      expect({ src: frame.ipv4?.src, dst: frame.ipv4?.dst, sport: frame.udp?.srcPort }).toEqual({ src: '127.0.0.11', dst: '127.0.0.1', sport: RESOLVER_PORT });
      const length = frame.udp!.length;
      const pseudoHeader = Uint8Array.of(127, 0, 0, 11, 127, 0, 0, 1, 0, 17, length >> 8, length & 0xff);
      expect(frame.udp!.checksum.toString(16)).toBe(onesComplementSum(pseudoHeader).toString(16));
    });

    it('a raw query with a full checksum goes to upstream and its answer comes back; one with a bad checksum is dropped by upstream', async () => {
      const port = 41000 + (method === 'tcx' ? 0 : 1);
      const query = (checksum?: number) =>
        ipv4UdpFrame({
          eth: { dst: '00:00:00:00:00:00', src: '00:00:00:00:00:00' },
          ip: { src: '127.0.0.1', dst: '127.0.0.11' },
          udp: { srcPort: port, dstPort: RESOLVER_PORT, payload: dnsPacket.encode({ id: 0x7e57, type: 'query', questions: [{ name: NAME, type: 'A' }] }), ...(checksum === undefined ? {} : { checksum }) },
        });
      const good = query();
      expect(parseFrame(good).udp?.checksumValid).toBe(true);

      const errors = udpErrors(up);
      const answered = await receiveWhile(port, () => sendFrame(ctr, 'lo', good));
      expect(answered).toMatchObject({ received: true, peer: '127.0.0.11', peerPort: RESOLVER_PORT });
      const answers = dnsPacket.decode(Buffer.from(answered.payload!, 'hex')).answers ?? [];
      expect(answers.map((a) => (a.type === 'A' ? a.data : a.type))).toEqual([ANSWER.upstream]);
      expect(udpErrors(up)).toBe(errors);

      const bad = query(parseFrame(good).udp!.checksum ^ 0x0101);
      const dropped = await receiveWhile(port, () => sendFrame(ctr, 'lo', bad));
      expect(dropped.received).toBe(false);
      expect(udpErrors(up)).toBe(errors + 1);
    });

    it('a raw answer with a full checksum from upstream reaches the client on 127.0.0.1; one with a bad checksum is dropped', async () => {
      const port = 42000 + (method === 'tcx' ? 0 : 1);
      const payload = dnsPacket.encode({ id: 0xa115, type: 'response', questions: [{ name: NAME, type: 'A' }], answers: [{ name: NAME, type: 'A', data: ANSWER.upstream }] });
      const answer = (checksum?: number) =>
        ipv4UdpFrame({
          eth: { dst: macOf(ctr, 'eth0'), src: macOf(up, 'veth-ctr') },
          ip: { src: UPSTREAM_IP, dst: CONTAINER_IP },
          udp: { srcPort: 53, dstPort: port, payload, ...(checksum === undefined ? {} : { checksum }) },
        });
      const good = answer();
      const datagram = udpDatagram('ipv4', UPSTREAM_IP, CONTAINER_IP, { srcPort: 53, dstPort: port, payload });
      expect(parseFrame(good).udp?.checksum).toBe((datagram[6]! << 8) | datagram[7]!);

      const errors = udpErrors(ctr);
      const arrived = await receiveWhile(port, () => sendFrame(up, 'veth-ctr', good));
      expect(arrived).toMatchObject({ received: true, peer: '127.0.0.11', peerPort: RESOLVER_PORT, payload: Buffer.from(payload).toString('hex') });
      expect(udpErrors(ctr)).toBe(errors);

      const dropped = await receiveWhile(port, () => sendFrame(up, 'veth-ctr', answer(parseFrame(good).udp!.checksum ^ 0x0101)));
      expect(dropped.received).toBe(false);
      expect(udpErrors(ctr)).toBe(errors + 1);
    });

    it('update() swaps both programs in place for a new upstream', async () => {
      driver.send({ command: 'update', changes: { upstream: `${SECOND_UPSTREAM_IP}:53` } });
      const updated = await driver.expect('updated');
      const { lo, eth } = updated.info!;
      expect(lo.programId).not.toBe(attached.info!.lo.programId);
      expect(eth.programId).not.toBe(attached.info!.eth.programId);
      expect(dig()).toBe(ANSWER.secondUpstream);
      if (method === 'tcx') {
        // The same links (LINK_UPDATE), now running the new programs.
        expect(tcxLinks(driver.process.pid).map(({ linkId, progId }) => [linkId, progId])).toEqual([
          [linkIds[0], lo.programId],
          [linkIds[1], eth.programId],
        ]);
      } else {
        expect(filters('lo').map((f) => [f.pref, f.options?.handle, f.options?.prog?.id])).toEqual([[1, '0x1', lo.programId]]);
        expect(filters('eth0').map((f) => [f.pref, f.options?.handle, f.options?.prog?.id])).toEqual([[1, '0x1', eth.programId]]);
      }
    });

    it('close() detaches: the local resolver answers again, and tc and bpftool net show what they showed before', async () => {
      driver.send({ command: 'close' });
      await driver.expect('closed');
      expect(await driver.process.waitForExit(10_000)).toEqual({ code: 0, signal: null });
      expect(dig()).toBe(ANSWER.local);
      expect(snapshot()).toBe(before);
    });
  });

  // The rest of the command line's attach and detach is in scenario-cli.test.ts, which the kernel matrix leaves to the host.
  describe('bpfgen attach tc-dns-redirect, inside ctr', () => {
    const bpfgen = (...args: string[]) => ctr.exec(process.execPath, [join(cli.dir, 'dist', 'cli', 'main.js'), ...args]);
    const attachArgs = ['attach', 'tc-dns-redirect', '--resolver', RESOLVER, '--upstream', `${UPSTREAM_IP}:53`, '--container-ip', CONTAINER_IP, '--eth', 'eth0'];

    it(`in the foreground: redirects until SIGTERM, then detaches and exits 143 (auto picks ${HAS_TCX ? 'tcx' : 'netlink, as the kernel has no tcx'})`, async () => {
      const attach = ctr.start(process.execPath, [join(cli.dir, 'dist', 'cli', 'main.js'), ...attachArgs]);
      await attach.waitForOutput(/^running /m, 20_000);
      expect(attach.stdout).toMatch(new RegExp(`attached {2}dns_redir_lo .* to lo \\(ifindex 1\\) ingress through ${HAS_TCX ? 'tcx' : 'netlink'}`));
      expect(dig()).toBe(ANSWER.upstream);
      await attach.stop('SIGTERM');
      expect(attach.exit).toEqual({ code: 143, signal: null });
      expect(dig()).toBe(ANSWER.local);
      expect(snapshot()).toBe(before);
    });

    if (!HAS_TCX) {
      it('with --attach tcx: one line naming tcx and Linux 6.6, exit code 1, nothing attached', () => {
        const refused = bpfgen(...attachArgs, '--attach', 'tcx', '--pin', join(pair.bpffs.dir, 'no-tcx'));
        expect(refused.status).toBe(1);
        expect(refused.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^bpfgen: attach: tcx links .*needs Linux 6\.6 or newer/)]);
        expect(readdirSync(pair.bpffs.dir)).not.toContain('no-tcx');
        expect(snapshot()).toBe(before);
      });
    }
  });
});
