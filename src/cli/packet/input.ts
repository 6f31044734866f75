/** The packet a test run starts from: hex on the command line, a record of a pcap file, or a preset. */
import { integerFlag } from '../args.js';
import { readInput } from '../io.js';
import { UsageError } from '../usage.js';
import { parseHexPacket } from './hex.js';
import { linkTypeName, LINKTYPE_ETHERNET, PcapFormatError, readPcap } from './pcap.js';
import { PACKET_PRESET_NAMES, PACKET_PRESETS, type PacketPresetName } from './presets.js';

/** XDP, tc and socket-filter test runs all start from an Ethernet header. */
export const MIN_PACKET_BYTES = 14;

export interface PacketFlags {
  readonly packet?: string;
  readonly pcap?: string;
  readonly index?: string;
  readonly preset?: string;
}

export interface InputPacket {
  readonly bytes: Uint8Array;
  /** Where it came from, for the report: `--packet`, `capture.pcap packet 3 of 10`, `preset dns-query`. */
  readonly source: string;
  /** What the reader of the report should know about it (a capture cut short by its snaplen). */
  readonly note?: string;
}

function fromPcap(path: string, indexText: string | undefined): InputPacket {
  const flag = `--pcap ${path}`;
  let raw: Buffer;
  try {
    raw = readInput(path);
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(`--pcap ${error.message}`);
    throw error;
  }
  let file;
  try {
    file = readPcap(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), flag);
  } catch (error) {
    if (error instanceof PcapFormatError) throw new UsageError(error.message);
    throw error;
  }
  if (file.linkType !== LINKTYPE_ETHERNET) {
    throw new UsageError(`${flag}: the capture's link type is ${linkTypeName(file.linkType)}, not Ethernet; test runs need Ethernet frames (capture on one interface, not -i any)`);
  }
  const count = file.records.length;
  if (count === 0) throw new UsageError(`${flag}: the capture holds no packets${file.damage ? ` (${file.damage})` : ''}`);
  const number = indexText === undefined ? 1 : integerFlag('--index', indexText, 1, 0x7fffffff);
  const record = file.records[number - 1];
  if (!record) {
    const why = file.damage ? `only ${count} packets are readable before ${file.damage}` : `it holds ${count} packet${count === 1 ? '' : 's'}`;
    throw new UsageError(`--index ${number}: ${path} has no packet ${number} (${why}; packets are numbered from 1, as in Wireshark)`);
  }
  const note = [
    record.data.length < record.originalLength ? `captured ${record.data.length} of ${record.originalLength} bytes (snaplen)` : '',
    file.damage ? `the file is damaged further on: ${file.damage}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return { bytes: record.data, source: `${path} packet ${number} of ${count}`, ...(note ? { note } : {}) };
}

/** Exactly one of --packet, --pcap, --packet-preset; errors name the flag. */
export function inputPacket(flags: PacketFlags): InputPacket {
  const given = (['packet', 'pcap', 'preset'] as const).filter((k) => flags[k] !== undefined);
  const names = { packet: '--packet', pcap: '--pcap', preset: '--packet-preset' };
  if (given.length === 0) throw new UsageError('test-run: give the packet with --packet HEX, --pcap FILE or --packet-preset NAME (see bpfgen test-run --help)');
  if (given.length > 1) throw new UsageError(`test-run: give only one of ${given.map((k) => names[k]).join(', ')}`);
  if (flags.index !== undefined && flags.pcap === undefined) throw new UsageError('--index: only meaningful with --pcap FILE');

  let packet: InputPacket;
  if (flags.packet !== undefined) packet = { bytes: parseHexPacket('--packet', flags.packet), source: '--packet' };
  else if (flags.pcap !== undefined) packet = fromPcap(flags.pcap, flags.index);
  else {
    const name = flags.preset!;
    if (!(PACKET_PRESET_NAMES as readonly string[]).includes(name)) {
      throw new UsageError(`--packet-preset: '${name}' is not one of ${PACKET_PRESET_NAMES.join(', ')}`);
    }
    packet = { bytes: PACKET_PRESETS[name as PacketPresetName].build(), source: `preset ${name}` };
  }
  if (packet.bytes.length < MIN_PACKET_BYTES) {
    const flag = flags.packet !== undefined ? '--packet' : flags.pcap !== undefined ? `--pcap ${flags.pcap}` : '--packet-preset';
    const what = packet.source === '--packet' ? 'the packet' : packet.source;
    const size = packet.bytes.length === 0 ? 'is empty' : `is ${packet.bytes.length} bytes, shorter than the ${MIN_PACKET_BYTES}-byte Ethernet header a test run needs`;
    throw new UsageError(`${flag}: ${what} ${size}`);
  }
  return packet;
}
