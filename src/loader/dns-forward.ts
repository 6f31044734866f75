/**
 * xdp-dns-forward for an agent to embed: build, load and attach in one
 * call, change the settings while attached, and detach.
 *
 *   const fwd = await attachDnsForward({ iface: 'lo', dnsIp: '100.127.136.241', listenPort: 5053 });
 *   await fwd.update({ listenPort: 5054 });
 *   await fwd.close();
 *
 * Two ways to hold the settings (`config`):
 * - `inline` (default): they are immediates in the code. update() builds
 *   and loads a new program and swaps it in atomically (LINK_UPDATE on the
 *   link, or a netlink replace naming the program expected in place), so
 *   every packet meets the old program or the new one.
 * - `map`: NetBird's way. The program reads them from an array map on every
 *   packet, and update() writes the map while the program stays attached.
 */
import {
  buildXdpDnsForward,
  buildXdpDnsForwardMapConfigured,
  DNS_FORWARD_CONFIG_MAP,
  dnsForwardConfigValue,
  XDP_DNS_FORWARD_KERNEL_NAMES,
  XDP_DNS_FORWARD_OPTIONS,
  type XdpDnsForwardOptions,
} from '../programs/xdp-dns-forward.js';
import { OptionError, resolveOptions } from '../programs/options.js';
import { resolveAttachOptions, type AttachOptionSpec } from './attach-options.js';
import type { AttachableProgram, Attachment } from './attachment.js';
import { codecs } from './maps.js';
import { preparePinDirectory } from './pins.js';
import { loadProgram, type Program } from './program.js';
import { attachedProgramName, XDP_ATTACH_MODES, XDP_ATTACH_OPTIONS, XdpAttachment, type XdpAttachMethod, type XdpAttachMode } from './xdp-attachment.js';
import { detachXdpNetlink, queryXdp } from './xdp-netlink.js';
import type { XdpModeName } from './uapi.js';

export const DNS_FORWARD_CONFIG_MODES = ['inline', 'map'] as const;
export type DnsForwardConfigMode = (typeof DNS_FORWARD_CONFIG_MODES)[number];

/** The attach options of xdp-dns-forward: those of any XDP program, and where its settings live. */
export const DNS_FORWARD_ATTACH_OPTIONS = [
  ...XDP_ATTACH_OPTIONS,
  {
    name: 'config',
    flag: '--config',
    kind: 'choice',
    choices: DNS_FORWARD_CONFIG_MODES,
    default: 'inline',
    help: 'inline (settings as immediates; a change swaps the program atomically) or map (settings in an array map, changed in place, as NetBird does)',
  },
] as const satisfies readonly AttachOptionSpec[];

/** The settings: where clients send queries, and where the resolver really listens. */
export type DnsForwardSettings = XdpDnsForwardOptions;

export interface DnsForwardOptions extends Partial<DnsForwardSettings> {
  /** Interface to attach to; `lo` by default. */
  readonly iface?: string;
  /** XDP mode; `generic` by default (lo has no other). */
  readonly mode?: XdpAttachMode;
  readonly config?: DnsForwardConfigMode;
  /** link, netlink, or `auto` (default): a link where the kernel has XDP links. */
  readonly attach?: XdpAttachMethod;
  /** Replace an XDP program the interface already runs; without it, that is an error. */
  readonly replace?: boolean;
  /**
   * Pin into this bpffs directory (created if missing, else it must be
   * empty), so that the attachment outlives the process: release() then
   * leaves it in place, and `bpfgen detach --pin DIR` undoes it.
   */
  readonly pin?: string;
}

export interface DnsForwardInfo {
  readonly iface: string;
  readonly ifindex: number;
  readonly mode: XdpAttachMode;
  readonly config: DnsForwardConfigMode;
  readonly method: 'link' | 'netlink';
  readonly programId: number;
  readonly programName: string;
  readonly settings: DnsForwardSettings;
  /** Paths pinned, when pinned. */
  readonly pins: readonly string[];
}

const CONFIG_KEY = codecs.u32.encode(0);

function describeSettings(settings: DnsForwardSettings): string {
  return (
    `dns-ip ${settings.dnsIp}, listen-port ${settings.listenPort}, dns-port ${settings.dnsPort}: ` +
    `queries to ${settings.dnsIp}:${settings.dnsPort} go to port ${settings.listenPort}, replies from port ${settings.listenPort} leave from port ${settings.dnsPort}`
  );
}

/** Build and load the program for `config`; in map mode its map holds `settings` before anything can run it. */
function loadForward(config: DnsForwardConfigMode, settings: DnsForwardSettings): Program {
  if (config === 'inline') return loadProgram(buildXdpDnsForward(settings));
  const program = loadProgram(buildXdpDnsForwardMapConfigured());
  try {
    program.map(DNS_FORWARD_CONFIG_MAP.name).set(CONFIG_KEY, dnsForwardConfigValue(settings));
  } catch (error) {
    program.close();
    throw error;
  }
  return program;
}

/** xdp-dns-forward attached to an interface. */
export class DnsForward implements Attachment {
  readonly program = 'xdp-dns-forward';
  #settings: DnsForwardSettings;
  #pins: readonly string[] = [];

  constructor(
    private readonly attachment: XdpAttachment,
    readonly config: DnsForwardConfigMode,
    settings: DnsForwardSettings,
  ) {
    this.#settings = settings;
  }

  get settings(): DnsForwardSettings {
    return this.#settings;
  }

  get info(): DnsForwardInfo {
    const { attachment } = this;
    return {
      iface: attachment.iface,
      ifindex: attachment.ifindex,
      mode: attachment.mode,
      config: this.config,
      method: attachment.method,
      programId: attachment.program.id,
      programName: attachment.program.name,
      settings: this.#settings,
      pins: this.#pins,
    };
  }

  /**
   * Change settings while attached: inline, by swapping in a program built
   * with them (atomically); map, by writing the map. Values are validated
   * first; on any error nothing has changed.
   */
  async update(changes: Partial<DnsForwardSettings>): Promise<void> {
    const settings = resolveOptions(XDP_DNS_FORWARD_OPTIONS, { ...this.#settings, ...changes });
    if (this.config === 'map') {
      this.attachment.program.map(DNS_FORWARD_CONFIG_MAP.name).set(CONFIG_KEY, dnsForwardConfigValue(settings));
    } else {
      this.attachment.swap(loadForward('inline', settings));
    }
    this.#settings = settings;
  }

  describe(): readonly string[] {
    const program = this.attachment.program;
    const how =
      this.config === 'inline'
        ? `inline config: ${buildXdpDnsForward(this.#settings).insns.length} instructions with the settings as immediates`
        : `map config: ${buildXdpDnsForwardMapConfigured().insns.length} instructions reading map ${DNS_FORWARD_CONFIG_MAP.name} (id ${program.maps.get(DNS_FORWARD_CONFIG_MAP.name)?.info().id})`;
    return [`loaded    ${this.program} as ${program.name} (${how})`, `settings  ${describeSettings(this.#settings)}`, ...this.attachment.describe()];
  }

  pin(dir: string): readonly string[] {
    this.#pins = this.attachment.pin(dir);
    return this.#pins;
  }

  release(): void {
    this.attachment.release();
  }

  async close(): Promise<void> {
    this.attachment.close();
  }
}

/** Split library or command-line input into validated settings and attach options; unknown keys are errors. */
function resolveInput(input: Readonly<Record<string, unknown>>): { settings: DnsForwardSettings; attach: Record<string, unknown>; pin?: string } {
  const settingNames = new Set<string>(XDP_DNS_FORWARD_OPTIONS.map((spec) => spec.name));
  const attachNames = new Set<string>(DNS_FORWARD_ATTACH_OPTIONS.map((spec) => spec.name));
  const settingsInput: Record<string, unknown> = {};
  const attachInput: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (settingNames.has(key)) settingsInput[key] = value;
    else if (attachNames.has(key)) attachInput[key] = value;
    else if (key !== 'pin') {
      throw new OptionError(key, `unknown option (expected ${[...settingNames, ...attachNames, 'pin'].join(', ')})`);
    }
  }
  const pin = typeof input.pin === 'string' && input.pin.length > 0 ? input.pin : undefined;
  if (input.pin !== undefined && pin === undefined) throw new OptionError('pin', `${String(input.pin)} is not a directory path`);
  return { settings: resolveOptions(XDP_DNS_FORWARD_OPTIONS, settingsInput), attach: resolveAttachOptions(DNS_FORWARD_ATTACH_OPTIONS, attachInput), ...(pin === undefined ? {} : { pin }) };
}

/**
 * Build, load and attach xdp-dns-forward. Everything is validated before
 * the kernel is asked; on any failure nothing stays loaded, attached or
 * pinned.
 */
export async function attachDnsForward(options: DnsForwardOptions = {}): Promise<DnsForward> {
  const { settings, attach, pin } = resolveInput(options as Readonly<Record<string, unknown>>);
  const config = attach.config as DnsForwardConfigMode;
  const pinDirectory = pin === undefined ? undefined : preparePinDirectory(pin);
  let forward: DnsForward | undefined;
  try {
    const attachment = XdpAttachment.attach(loadForward(config, settings), {
      iface: attach.iface as string,
      mode: attach.mode as XdpAttachMode,
      method: attach.attach as XdpAttachMethod,
      replace: attach.replace as boolean,
    });
    forward = new DnsForward(attachment, config, settings);
    if (pin !== undefined) forward.pin(pin);
    return forward;
  } catch (error) {
    await forward?.close();
    pinDirectory?.removeCreated();
    throw error;
  }
}

/**
 * Remove xdp-dns-forward from `iface` where it was attached through netlink
 * (recognised by its kernel program names, xdp_dns_fwd and xdp_dns_fwd_map).
 * A program of another name is not touched; one held by a bpf link cannot be
 * removed through netlink and is reported as such.
 */
export async function detachDnsForwardFromInterface(iface: string): Promise<readonly string[]> {
  const now = queryXdp(iface);
  const done: string[] = [];
  for (const [kernelMode, id] of Object.entries(now.programIds) as [XdpModeName, number][]) {
    const name = attachedProgramName(id);
    if (name === undefined || !XDP_DNS_FORWARD_KERNEL_NAMES.includes(name)) continue;
    const mode = Object.entries(XDP_ATTACH_MODES).find(([, kernel]) => kernel === kernelMode)![0];
    detachXdpNetlink(now.ifindex, { mode: kernelMode, expectedProgramId: id });
    done.push(`detached ${name} (id ${id}) from ${now.iface} (ifindex ${now.ifindex}) in ${mode} mode through netlink`);
  }
  return done;
}

export const DNS_FORWARD_ATTACHABLE: AttachableProgram = {
  name: 'xdp-dns-forward',
  kernelNames: XDP_DNS_FORWARD_KERNEL_NAMES,
  options: DNS_FORWARD_ATTACH_OPTIONS,
  attach: (values) => attachDnsForward(values as DnsForwardOptions),
  detachFromInterface: detachDnsForwardFromInterface,
};
