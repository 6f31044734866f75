/**
 * NetBird's DNS port sharing, set up for real in a network namespace:
 * DNS_IP/16 on a veth end, dnsmasq holding 0.0.0.0:53, our responders on
 * DNS_IP:5053 and DNS_IP:5054 (in the worker, which also attaches), and
 * real `dig` to ask. Everything is removed by `dispose`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, type NetnsProcess } from '../support/netns.js';
import { compileTree, NetnsWorker, type CompiledTree } from './compiled.js';

export const DNS_IP = '100.127.136.241';
export const NAME = 'postgres.netbird.cloud';
/** Who answers what: dnsmasq on :53, our responders on the two listen ports. */
export const ANSWERS = { dnsmasq: '192.0.2.1', port5053: '100.127.16.22', port5054: '100.127.16.23' } as const;
export const VETH = { carrier: 'v0', peer: 'v1' } as const;

export interface Scenario {
  readonly netns: Netns;
  readonly tree: CompiledTree;
  readonly worker: NetnsWorker;
  readonly dnsmasq: NetnsProcess;
  /** `dig @DNS_IP -p 53 NAME A +short`: the answer lines, or the failure. */
  dig(extra?: readonly string[]): string;
  /** The XDP state of an interface as `ip -details link show` prints it (empty when none). */
  xdpOf(iface: string): string;
  dispose(): Promise<void>;
}

export async function startScenario(area: string, tree: CompiledTree = compileTree()): Promise<Scenario> {
  const netns = Netns.create(area);
  const temp = mkdtempSync(join(tmpdir(), `bpfgen-${area}-${process.pid}-`));
  let worker: NetnsWorker | undefined;
  const dispose = async () => {
    await worker?.stop();
    await netns.delete();
    rmSync(temp, { recursive: true, force: true });
  };
  try {
    netns.addVeth(VETH.carrier, VETH.peer);
    netns.execOk('ip', ['address', 'add', `${DNS_IP}/16`, 'dev', VETH.carrier]);
    // Frames injected on lo from a local source address (see checksums.test.ts) are martians otherwise.
    for (const iface of ['lo', VETH.carrier]) netns.setSysctl(`net.ipv4.conf.${iface}.accept_local`, 1);
    const dnsmasq = netns.start('dnsmasq', [
      '--no-daemon',
      '--no-resolv',
      '--no-hosts',
      '--port=53',
      `--address=/${NAME}/${ANSWERS.dnsmasq}`,
      `--pid-file=${join(temp, 'dnsmasq.pid')}`,
      '--log-facility=-',
    ]);
    await netns.waitFor('dnsmasq on port 53', () => netns.udpListening(53));
    worker = await NetnsWorker.start(netns, tree);
    await worker.request({ op: 'responder', address: DNS_IP, port: 5053, answers: { [NAME]: ANSWERS.port5053 } });
    await worker.request({ op: 'responder', address: DNS_IP, port: 5054, answers: { [NAME]: ANSWERS.port5054 } });
    const started = worker;
    return {
      netns,
      tree,
      worker: started,
      dnsmasq,
      dig(extra = []) {
        const result = netns.exec('dig', [`@${DNS_IP}`, '-p', '53', NAME, 'A', '+short', '+tries=1', '+timeout=2', ...extra]);
        return result.status === 0 ? result.stdout.trim() : `dig failed (${result.status}): ${result.stdout.trim()} ${result.stderr.trim()}`;
      },
      xdpOf(iface) {
        return netns
          .execOk('ip', ['-details', 'link', 'show', iface])
          .split('\n')
          .filter((line) => /xdp|prog\/xdp/.test(line))
          .map((line) => line.trim())
          .join('\n');
      },
      dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}
