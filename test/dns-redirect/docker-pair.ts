/**
 * A pair of namespaces laid out like Docker's, for the tc-dns-redirect
 * scenario tests (scenario.test.ts for the library, scenario-cli.test.ts
 * for the command line):
 *
 *   ctr: lo, and eth0 192.0.2.2/24 (one end of a veth pair), default route
 *        via 192.0.2.1; a local resolver on 127.0.0.11:35353 answering
 *        192.0.2.99
 *   up:  veth-ctr 192.0.2.1/24, and on lo the upstream resolvers, real
 *        dnsmasq at 198.51.100.53:53 (answering 203.0.113.53) and at
 *        198.51.100.54:53 (answering 203.0.113.54)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledCli, type CompiledCli } from '../cli/compiled-cli.js';
import { privateBpffs } from '../loader/support.js';
import { Netns } from '../support/netns.js';

export const HERE = import.meta.dirname;
export const RESOLVER_PORT = 35353;
export const RESOLVER = `127.0.0.11:${RESOLVER_PORT}`;
export const CONTAINER_IP = '192.0.2.2';
export const GATEWAY_IP = '192.0.2.1';
export const UPSTREAM_IP = '198.51.100.53';
export const SECOND_UPSTREAM_IP = '198.51.100.54';
export const NAME = 'probe.test';
export const ANSWER = { local: '192.0.2.99', upstream: '203.0.113.53', secondUpstream: '203.0.113.54' } as const;

export interface TcFilterJson {
  readonly kind: string;
  readonly pref: number;
  readonly options?: { readonly handle?: string; readonly 'direct-action'?: boolean; readonly prog?: { readonly id: number; readonly name: string } };
}

export interface DockerPair {
  readonly ctr: Netns;
  readonly up: Netns;
  /** bpfgen compiled for processes started in ctr. */
  readonly cli: CompiledCli;
  /** A private bpf filesystem, mounted before the namespaces' commands start so that they see it. */
  readonly bpffs: { readonly dir: string };
  readonly scratch: string;
  readonly ethIfindex: number;
  /** What snapshot() showed before anything was attached: the state detaching must restore. */
  readonly before: string;
  /** `dig @127.0.0.11 -p 35353 probe.test +short` in ctr. */
  dig(): string;
  /** What tc and bpftool show in ctr. */
  snapshot(): string;
  /** The bpf filters on a device's ingress in ctr. */
  filters(dev: string): TcFilterJson[];
  dispose(): Promise<void>;
}

export async function startDockerPair(): Promise<DockerPair> {
  const scratch = mkdtempSync(join(tmpdir(), `bpfgen-tcdns-${process.pid}-`));
  const cli = compiledCli();
  const bpffs = privateBpffs();
  const ctr = Netns.create('tcdns');
  const up = Netns.create('tcdns');
  const dispose = async () => {
    await ctr.delete();
    await up.delete();
    cli.dispose();
    bpffs.dispose();
    rmSync(scratch, { recursive: true, force: true });
  };
  try {
    ctr.addVeth('eth0', 'veth-ctr', up);
    ctr.execOk('ip', ['addr', 'add', `${CONTAINER_IP}/24`, 'dev', 'eth0']);
    ctr.execOk('ip', ['route', 'add', 'default', 'via', GATEWAY_IP]);
    up.execOk('ip', ['addr', 'add', `${GATEWAY_IP}/24`, 'dev', 'veth-ctr']);
    for (const [address, answer] of [
      [UPSTREAM_IP, ANSWER.upstream],
      [SECOND_UPSTREAM_IP, ANSWER.secondUpstream],
    ] as const) {
      up.execOk('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo']);
      up.start('dnsmasq', [
        '--keep-in-foreground',
        '--no-resolv',
        '--no-hosts',
        '--conf-file=/dev/null',
        `--pid-file=${join(scratch, `dnsmasq-${address}.pid`)}`,
        '--user=root',
        '--bind-interfaces',
        `--listen-address=${address}`,
        '--port=53',
        `--address=/${NAME}/${answer}`,
      ]);
    }
    const local = ctr.start(process.execPath, [join(HERE, 'local-resolver.mjs'), '127.0.0.11', String(RESOLVER_PORT), ANSWER.local]);
    await local.waitForOutput(/listening/);
    const answers = (address: string) => up.exec('dig', [`@${address}`, NAME, '+short', '+time=1', '+tries=1']).stdout.trim();
    await up.waitFor('both dnsmasq instances answering', () => answers(SECOND_UPSTREAM_IP) === ANSWER.secondUpstream && answers(UPSTREAM_IP) === ANSWER.upstream);
    const ethIfindex = (JSON.parse(ctr.execOk('ip', ['-j', 'link', 'show', 'eth0'])) as { ifindex: number }[])[0]!.ifindex;
    const snapshot = (): string =>
      [
        ctr.execOk('tc', ['qdisc', 'show']),
        ...['lo', 'eth0'].flatMap((dev) => ['ingress', 'egress'].map((hook) => `${dev} ${hook}: ${ctr.execOk('tc', ['filter', 'show', 'dev', dev, hook])}`)),
        ctr.execOk('bpftool', ['net']),
      ].join('\n');
    return {
      ctr,
      up,
      cli,
      bpffs,
      scratch,
      ethIfindex,
      before: snapshot(),
      dig: () => ctr.exec('dig', [`@127.0.0.11`, '-p', String(RESOLVER_PORT), NAME, '+short', '+time=2', '+tries=1']).stdout.trim(),
      snapshot,
      filters: (dev) => (JSON.parse(ctr.execOk('tc', ['-j', 'filter', 'show', 'dev', dev, 'ingress'])) as TcFilterJson[]).filter((f) => f.options?.prog),
      dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}
