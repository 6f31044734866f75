/**
 * `bpfgen attach tc-dns-redirect` and `bpfgen detach` inside the container
 * namespace of a Docker-like pair (docker-pair.ts): the route_localnet
 * message, pinned attachments through tcx and netlink that outlive the
 * process and `detach --pin` undoes, and `detach --iface`. The library and
 * the foreground command are in scenario.test.ts; the kernel matrix leaves
 * this file to the host (vm-tests/select.ts).
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CompiledCli } from '../cli/compiled-cli.js';
import { describeWithBpf } from '../loader/support.js';
import { kernelAtLeast } from '../support/kernel.js';
import type { Netns } from '../support/netns.js';
import { ANSWER, CONTAINER_IP, RESOLVER, startDockerPair, UPSTREAM_IP, type DockerPair } from './docker-pair.js';

/** tcx links came with Linux 6.6. */
const HAS_TCX = kernelAtLeast(6, 6);

describeWithBpf('bpfgen attach tc-dns-redirect and bpfgen detach, inside ctr', () => {
  let pair: DockerPair;
  let ctr: Netns;
  let cli: CompiledCli;
  let bpffs: { readonly dir: string };
  let ethIfindex: number;
  let before: string;
  beforeAll(async () => {
    pair = await startDockerPair();
    ({ ctr, cli, bpffs, ethIfindex, before } = pair);
  }, 180_000);
  afterAll(async () => {
    await pair?.dispose();
  });

  const dig = (): string => pair.dig();
  const snapshot = (): string => pair.snapshot();
  const filters = (dev: string) => pair.filters(dev);

  const bpfgen = (...args: string[]) => ctr.exec(process.execPath, [join(cli.dir, 'dist', 'cli', 'main.js'), ...args]);
  const attachArgs = ['attach', 'tc-dns-redirect', '--resolver', RESOLVER, '--upstream', `${UPSTREAM_IP}:53`, '--container-ip', CONTAINER_IP, '--eth', 'eth0'];

  it('says in one line that route_localnet is 0 and exits 1 without --set-route-localnet; with it, sets it', () => {
    ctr.execOk('sysctl', ['-qw', 'net.ipv4.conf.lo.route_localnet=0']);
    const refused = bpfgen(...attachArgs, '--pin', join(bpffs.dir, 'refused'));
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^bpfgen: attach: net\.ipv4\.conf\.lo\.route_localnet is 0 in this network namespace .*--set-route-localnet.*\n$/);
    expect(snapshot()).toBe(before);
    expect(readdirSync(bpffs.dir)).not.toContain('refused');

    const dir = join(bpffs.dir, 'set');
    const attached = bpfgen(...attachArgs, '--set-route-localnet', '--pin', dir);
    expect(attached.status, attached.stderr).toBe(0);
    expect(attached.stdout).toContain('set net.ipv4.conf.lo.route_localnet=1');
    expect(ctr.execOk('sysctl', ['-n', 'net.ipv4.conf.lo.route_localnet']).trim()).toBe('1');
    expect(bpfgen('detach', '--pin', dir).status).toBe(0);
    expect(snapshot()).toBe(before);
  });


  it.each(HAS_TCX ? ['tcx', 'netlink'] : ['netlink'])('with --attach %s --pin DIR: stays attached after exiting, and detach --pin DIR undoes it', (method) => {
    const dir = join(bpffs.dir, `redirect-${method}`);
    const attached = bpfgen(...attachArgs, '--attach', method, '--pin', dir);
    expect(attached.status, attached.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(
      method === 'tcx'
        ? ['link_tcx-ingress-eth0', 'link_tcx-ingress-lo', 'prog_dns_redir_eth', 'prog_dns_redir_lo']
        : ['tc-netlink-ingress-1-1-created-1-lo', `tc-netlink-ingress-1-1-created-${ethIfindex}-eth0`],
    );
    expect(dig()).toBe(ANSWER.upstream);
    const detached = bpfgen('detach', '--pin', dir);
    expect(detached.status, detached.stderr).toBe(0);
    expect(readdirSync(bpffs.dir)).not.toContain(`redirect-${method}`);
    expect(dig()).toBe(ANSWER.local);
    expect(snapshot()).toBe(before);
  });

  it('detach --iface removes the netlink filters by program name and leaves the clsact qdisc', () => {
    const dir = join(bpffs.dir, 'by-iface');
    expect(bpfgen(...attachArgs, '--attach', 'netlink', '--pin', dir).status).toBe(0);
    for (const [dev, name] of [['lo', 'dns_redir_lo'], ['eth0', 'dns_redir_eth']]) {
      const detached = bpfgen('detach', '--iface', dev!);
      expect(detached.status, detached.stderr).toBe(0);
      expect(detached.stdout).toMatch(new RegExp(`^removed the ingress filter running ${name} \\(id \\d+\\) from ${dev} .*its clsact qdisc stays\\n$`));
      expect(filters(dev!)).toEqual([]);
      expect(bpfgen('detach', '--iface', dev!).status).toBe(1);
    }
    expect(dig()).toBe(ANSWER.local);
    // What detach --iface cannot know to remove: the qdiscs and the pins of the records.
    for (const dev of ['lo', 'eth0']) ctr.execOk('tc', ['qdisc', 'del', 'dev', dev, 'clsact']);
    rmSync(dir, { recursive: true });
    expect(snapshot()).toBe(before);
  });
});
