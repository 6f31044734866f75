/**
 * tc-dns-redirect for a container runtime or agent to embed: inside a
 * container's network namespace, send the queries clients address to the
 * embedded resolver (127.0.0.11:PORT) to an upstream resolver instead, and
 * bring the answers back, with two tc programs (src/programs/tc-dns-redirect.ts):
 *
 *   const redirect = await attachDnsRedirect({ resolver: '127.0.0.11:35353', upstream: '198.51.100.53:53', containerIp: '192.0.2.2' });
 *   await redirect.update({ upstream: '198.51.100.54:53' });
 *   await redirect.close();
 *
 * Interface names are resolved, and route_localnet read and set, in the
 * network namespace this process runs in. Each program is attached through
 * tcx or netlink (TcAttachment); update() builds both programs again with
 * the new settings and swaps each in atomically.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import {
  buildTcDnsRedirectEth,
  buildTcDnsRedirectLo,
  TC_DNS_REDIRECT_PROGRAM_NAMES,
  TC_DNS_REDIRECT_SETTINGS,
  type TcDnsRedirectSettings,
} from '../programs/tc-dns-redirect.js';
import { OptionError, resolveOptions } from '../programs/options.js';
import { requireInterface, resolveAttachOptions, type AttachOptionSpec } from './attach-options.js';
import type { AttachableProgram, Attachment } from './attachment.js';
import { preparePinDirectory } from './pins.js';
import { loadProgram, type Program } from './program.js';
import { TC_ATTACH_METHODS, TcAttachment, type TcAttachMethod } from './tc-attachment.js';
import { detachTcFilter, listTcFilters } from './tc-netlink.js';
import { attachedProgramName } from './xdp-attachment.js';

/** The attach options of tc-dns-redirect: its settings, which interfaces, how to attach, and route_localnet. */
export const DNS_REDIRECT_ATTACH_OPTIONS = [
  ...TC_DNS_REDIRECT_SETTINGS,
  { name: 'lo', flag: '--lo', kind: 'interface', default: 'lo', help: 'the loopback interface clients query the resolver on' },
  { name: 'eth', flag: '--eth', kind: 'interface', default: 'eth0', help: "the container's interface towards upstream" },
  {
    name: 'attach',
    flag: '--attach',
    kind: 'choice',
    choices: TC_ATTACH_METHODS,
    default: 'auto',
    help: 'tcx (bpf_links, Linux 6.6+), netlink (cls_bpf filters on a clsact qdisc), or auto: tcx where the kernel has it',
  },
  {
    name: 'setRouteLocalnet',
    flag: '--set-route-localnet',
    kind: 'switch',
    default: false,
    help: 'set net.ipv4.conf.<lo>.route_localnet=1, which answers redirected into lo need, if it is not set',
  },
] as const satisfies readonly AttachOptionSpec[];

/** The settings the programs are built with; every one must be given (the programs' defaults are examples). */
export type DnsRedirectSettings = TcDnsRedirectSettings;

export interface DnsRedirectOptions extends DnsRedirectSettings {
  /** The loopback interface; `lo` by default. */
  readonly lo?: string;
  /** The interface towards upstream; `eth0` by default. */
  readonly eth?: string;
  /** tcx, netlink, or `auto` (default): tcx where the kernel has it. */
  readonly attach?: TcAttachMethod;
  /**
   * Set net.ipv4.conf.<lo>.route_localnet to 1 when neither it nor
   * conf.all's is 1; without it, that is an error (answers would be dropped).
   * It is left set afterwards.
   */
  readonly setRouteLocalnet?: boolean;
  /**
   * Pin into this bpffs directory (created if missing, else it must be
   * empty), so that the attachment outlives the process: release() then
   * leaves it in place, and `bpfgen detach --pin DIR` undoes it.
   */
  readonly pin?: string;
}

export interface DnsRedirectInfo {
  readonly settings: DnsRedirectSettings;
  readonly method: 'tcx' | 'netlink';
  readonly lo: { readonly iface: string; readonly ifindex: number; readonly programId: number };
  readonly eth: { readonly iface: string; readonly ifindex: number; readonly programId: number };
  /** Paths pinned, when pinned. */
  readonly pins: readonly string[];
}

/** Answers redirected into lo would be dropped as martians: route_localnet is off and was not to be set. */
export class RouteLocalnetError extends Error {
  constructor(readonly iface: string) {
    super(
      `net.ipv4.conf.${iface}.route_localnet is 0 in this network namespace (and so is conf.all's): answers redirected into ${iface} come from ` +
        `a loopback address and the kernel would drop them as martians; set it (sysctl -w net.ipv4.conf.${iface}.route_localnet=1) ` +
        `or ask bpfgen to (--set-route-localnet, or setRouteLocalnet: true)`,
    );
    this.name = 'RouteLocalnetError';
  }
}

function routeLocalnetPath(conf: string): string {
  return `/proc/sys/net/ipv4/conf/${conf}/route_localnet`;
}

/** The kernel accepts loopback addresses arriving on `iface` when its route_localnet or conf.all's is 1 (IN_DEV_NET_ROUTE_LOCALNET). */
function routeLocalnetOn(iface: string): boolean {
  return [iface, 'all'].some((conf) => readFileSync(routeLocalnetPath(conf), 'utf8').trim() === '1');
}

/** Check route_localnet for `iface`, setting it when asked; a line saying how it stands. */
function ensureRouteLocalnet(iface: string, set: boolean): string {
  if (routeLocalnetOn(iface)) return `sysctl    net.ipv4.conf.${iface}.route_localnet (or conf.all's) is 1, as answers redirected into ${iface} need`;
  if (!set) throw new RouteLocalnetError(iface);
  writeFileSync(routeLocalnetPath(iface), '1\n');
  return `sysctl    set net.ipv4.conf.${iface}.route_localnet=1 (answers redirected into ${iface} need it; it stays set)`;
}

function describeSettings(settings: DnsRedirectSettings): string {
  return `queries to ${settings.resolver} go to ${settings.upstream} from ${settings.containerIp}; answers come back from ${settings.resolver}`;
}

interface Interfaces {
  readonly lo: string;
  readonly loIndex: number;
  readonly eth: string;
  readonly ethIndex: number;
}

function loadLo(settings: DnsRedirectSettings, interfaces: Interfaces): Program {
  return loadProgram(buildTcDnsRedirectLo({ ...settings, ethIfindex: interfaces.ethIndex }));
}

function loadEth(settings: DnsRedirectSettings, interfaces: Interfaces): Program {
  return loadProgram(buildTcDnsRedirectEth({ ...settings, loIfindex: interfaces.loIndex }));
}

/** tc-dns-redirect attached to a container's lo and eth. */
export class DnsRedirect implements Attachment {
  readonly program = 'tc-dns-redirect';
  #settings: DnsRedirectSettings;
  #pins: readonly string[] = [];

  constructor(
    private readonly lo: TcAttachment,
    private readonly eth: TcAttachment,
    private readonly interfaces: Interfaces,
    settings: DnsRedirectSettings,
    private readonly routeLocalnet: string,
  ) {
    this.#settings = settings;
  }

  get settings(): DnsRedirectSettings {
    return this.#settings;
  }

  get info(): DnsRedirectInfo {
    return {
      settings: this.#settings,
      method: this.lo.method,
      lo: { iface: this.lo.iface, ifindex: this.lo.ifindex, programId: this.lo.program.id },
      eth: { iface: this.eth.iface, ifindex: this.eth.ifindex, programId: this.eth.program.id },
      pins: this.#pins,
    };
  }

  /**
   * Change settings while attached: both programs are built and loaded with
   * them, then each is swapped in atomically, lo's first (from then on
   * queries go to the new upstream) and eth's right after (answers from it
   * come back). Values are validated and both programs loaded before
   * anything changes; should eth's swap fail, lo's is undone.
   */
  async update(changes: Partial<DnsRedirectSettings>): Promise<void> {
    const settings = resolveOptions(TC_DNS_REDIRECT_SETTINGS, { ...this.#settings, ...changes });
    const nextLo = loadLo(settings, this.interfaces);
    let nextEth: Program;
    try {
      nextEth = loadEth(settings, this.interfaces);
    } catch (error) {
      nextLo.close();
      throw error;
    }
    try {
      this.lo.swap(nextLo);
    } catch (error) {
      nextEth.close();
      throw error;
    }
    try {
      this.eth.swap(nextEth);
    } catch (error) {
      this.lo.swap(loadLo(this.#settings, this.interfaces));
      throw error;
    }
    this.#settings = settings;
  }

  describe(): readonly string[] {
    const lo = this.lo.program;
    return [
      `loaded    ${this.program} as ${lo.name} for ${this.lo.iface} ingress and ${this.eth.program.name} for ${this.eth.iface} ingress (${lo.xlated().length} and ${this.eth.program.xlated().length} instructions as the kernel runs them)`,
      `settings  ${describeSettings(this.#settings)}`,
      this.lo.describe(),
      this.eth.describe(),
      this.routeLocalnet,
    ];
  }

  pin(dir: string): readonly string[] {
    const pinned = [...this.eth.pin(dir)];
    try {
      pinned.push(...this.lo.pin(dir));
    } catch (error) {
      this.eth.unpin();
      throw error;
    }
    this.#pins = pinned;
    return pinned;
  }

  release(): void {
    this.lo.release();
    this.eth.release();
  }

  /** Detach lo's program first (queries stop being redirected), then eth's. */
  async close(): Promise<void> {
    try {
      this.lo.close();
    } finally {
      this.eth.close();
    }
  }
}

/** Split library or command-line input into validated settings and attach options; unknown keys and missing settings are errors. */
function resolveInput(input: Readonly<Record<string, unknown>>): { settings: DnsRedirectSettings; attach: Record<string, unknown>; pin?: string } {
  const settingNames = new Set<string>(TC_DNS_REDIRECT_SETTINGS.map((spec) => spec.name));
  const attachSpecs = DNS_REDIRECT_ATTACH_OPTIONS.filter((spec) => !settingNames.has(spec.name));
  const known = [...DNS_REDIRECT_ATTACH_OPTIONS.map((spec) => spec.name), 'pin'];
  for (const key of Object.keys(input)) {
    if (!known.includes(key)) throw new OptionError(key, `unknown option (expected ${known.join(', ')})`);
  }
  for (const spec of TC_DNS_REDIRECT_SETTINGS) {
    if (input[spec.name] === undefined) throw new OptionError(spec.flag, `required: ${spec.help} (e.g. ${spec.default})`);
  }
  const settingsInput = Object.fromEntries([...settingNames].map((name) => [name, input[name]]));
  const pin = input.pin;
  if (pin !== undefined && (typeof pin !== 'string' || pin.length === 0)) throw new OptionError('pin', `${String(pin)} is not a directory path`);
  return { settings: resolveOptions(TC_DNS_REDIRECT_SETTINGS, settingsInput), attach: resolveAttachOptions(attachSpecs, input), ...(pin ? { pin } : {}) };
}


/**
 * Build, load and attach both programs: eth's first, so that answers are
 * brought back before any query is sent away. Everything is validated,
 * including route_localnet, before the kernel is asked; on any failure
 * nothing stays loaded, attached or pinned.
 */
export async function attachDnsRedirect(options: DnsRedirectOptions): Promise<DnsRedirect> {
  const { settings, attach, pin } = resolveInput(options as unknown as Readonly<Record<string, unknown>>);
  const lo = attach.lo as string;
  const eth = attach.eth as string;
  const interfaces: Interfaces = { lo, loIndex: requireInterface('--lo', lo), eth, ethIndex: requireInterface('--eth', eth) };
  const routeLocalnet = ensureRouteLocalnet(lo, attach.setRouteLocalnet as boolean);
  const method = attach.attach as TcAttachMethod;
  const pinDirectory = pin === undefined ? undefined : preparePinDirectory(pin);
  let ethAttachment: TcAttachment | undefined;
  let redirect: DnsRedirect | undefined;
  try {
    ethAttachment = TcAttachment.attach(loadEth(settings, interfaces), { iface: eth, direction: 'ingress', method });
    const loAttachment = TcAttachment.attach(loadLo(settings, interfaces), { iface: lo, direction: 'ingress', method: ethAttachment.method });
    redirect = new DnsRedirect(loAttachment, ethAttachment, interfaces, settings, routeLocalnet);
    if (pin !== undefined) redirect.pin(pin);
    return redirect;
  } catch (error) {
    if (redirect) await redirect.close();
    else ethAttachment?.close();
    pinDirectory?.removeCreated();
    throw error;
  }
}

const KERNEL_NAMES: readonly string[] = Object.values(TC_DNS_REDIRECT_PROGRAM_NAMES);

/**
 * Remove tc-dns-redirect's filters from the ingress of `iface` where they
 * were attached through netlink (recognised by their kernel program names).
 * The clsact qdisc stays: only the pin record knows whether bpfgen created it.
 */
export async function detachDnsRedirectFromInterface(iface: string): Promise<readonly string[]> {
  const done: string[] = [];
  for (const filter of listTcFilters(iface, 'ingress')) {
    const id = filter.bpf?.programId;
    const name = id === undefined ? undefined : attachedProgramName(id);
    if (id === undefined || name === undefined || !KERNEL_NAMES.includes(name)) continue;
    detachTcFilter(iface, 'ingress', { priority: filter.priority, handle: filter.handle, expectedProgramId: id });
    done.push(`removed the ingress filter running ${name} (id ${id}) from ${iface} (priority ${filter.priority}, handle ${filter.handle}); its clsact qdisc stays`);
  }
  return done;
}

export const DNS_REDIRECT_ATTACHABLE: AttachableProgram = {
  name: 'tc-dns-redirect',
  kernelNames: KERNEL_NAMES,
  options: DNS_REDIRECT_ATTACH_OPTIONS,
  attach: (values) => attachDnsRedirect(values as unknown as DnsRedirectOptions),
  detachFromInterface: detachDnsRedirectFromInterface,
};
