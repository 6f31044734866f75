/**
 * rtnetlink encoding and decoding with crafted bytes: requests laid out as
 * linux/netlink.h, linux/if_link.h and linux/pkt_cls.h say, and replies
 * that are truncated or contradict their own lengths rejected with a clear
 * error. (Byte arrays are little-endian, as on the machines that run this.)
 */
import { describe, expect, it } from 'vitest';
import { decodeLink } from '../../src/loader/netlink/link.js';
import { attribute, Attributes, decodeMessages, decodeStatus, encodeMessage, NetlinkDecodeError, NLMSG_DONE, NLMSG_ERROR, NlmFlags, type NetlinkMessage } from '../../src/loader/netlink/message.js';
import { clsactParent, decodeFilter } from '../../src/loader/netlink/tc.js';

const le32 = (value: number): number[] => [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
const le16 = (value: number): number[] => [value & 0xff, value >>> 8];
const ascii = (text: string): number[] => Array.from(text, (c) => c.charCodeAt(0));

/** nla: length, type, value, padding to 4. */
function nla(type: number, value: number[]): number[] {
  const padding = (4 - (value.length % 4)) % 4;
  return [...le16(4 + value.length), ...le16(type), ...value, ...new Array<number>(padding).fill(0)];
}

function message(type: number, flags: number, payload: number[]): NetlinkMessage {
  return { type, flags, seq: 1, pid: 0, payload: Uint8Array.from(payload) };
}

describe('netlink encoding', () => {
  it('lays out an RTM_SETLINK request with a nested IFLA_XDP as the UAPI headers do', () => {
    const bytes = encodeMessage({ type: 19, flags: NlmFlags.REQUEST | NlmFlags.ACK, seq: 7 }, Uint8Array.from([0, 0, 0, 0, ...le32(1), ...le32(0), ...le32(0)]), [
      attribute.nested(43, [attribute.s32(1, -1), attribute.u32(3, 2)]),
    ]);
    expect(Array.from(bytes)).toEqual([
      ...le32(52), ...le16(19), ...le16(5), ...le32(7), ...le32(0), // nlmsghdr
      0, 0, 0, 0, ...le32(1), ...le32(0), ...le32(0), // ifinfomsg for index 1
      ...le16(20), ...le16(43 | 0x8000), // IFLA_XDP, NLA_F_NESTED
      ...le16(8), ...le16(1), 0xff, 0xff, 0xff, 0xff, // IFLA_XDP_FD = -1
      ...le16(8), ...le16(3), ...le32(2), // IFLA_XDP_FLAGS = XDP_FLAGS_SKB_MODE
    ]);
  });

  it('terminates strings with NUL and pads attributes to four bytes, without counting the padding in their length', () => {
    const bytes = encodeMessage({ type: 36, flags: 0, seq: 1 }, new Uint8Array(20), [attribute.string(1, 'clsact'), attribute.string(7, 'bpf'), attribute.string(2, 'x')]);
    expect(Array.from(bytes.subarray(36))).toEqual([
      ...le16(11), ...le16(1), ...ascii('clsact'), 0, 0, // 4 + 7, one byte of padding
      ...le16(8), ...le16(7), ...ascii('bpf'), 0, // 4 + 4, none
      ...le16(6), ...le16(2), ...ascii('x'), 0, 0, 0, // 4 + 2, two
    ]);
    expect(new DataView(bytes.buffer).getUint32(0, true)).toBe(bytes.byteLength);
    expect(() => attribute.string(1, 'a\0b')).toThrow('contains a NUL byte');
  });

  it('refuses an attribute longer than its 16-bit length field', () => {
    expect(() => encodeMessage({ type: 16, flags: 0, seq: 1 }, new Uint8Array(16), [{ type: 1, value: new Uint8Array(70000) }])).toThrow(
      'netlink attribute 1 is 70004 bytes; an attribute holds at most 65535',
    );
  });

  it('puts the clsact hooks at ffff:fff2 and ffff:fff3', () => {
    expect(clsactParent('ingress')).toBe(0xfffffff2);
    expect(clsactParent('egress')).toBe(0xfffffff3);
  });
});

describe('netlink decoding', () => {
  it('splits a datagram into aligned messages, reading the header fields', () => {
    const first = [...le32(20), ...le16(16), ...le16(2), ...le32(9), ...le32(77), 1, 2, 3, 4];
    const second = [...le32(17), ...le16(3), ...le16(2), ...le32(9), ...le32(77), 5, 0, 0, 0]; // 17 bytes, padded to 20
    const messages = decodeMessages(Uint8Array.from([...first, ...second]), 'test reply');
    expect(messages.map(({ type, flags, seq, pid, payload }) => ({ type, flags, seq, pid, payload: Array.from(payload) }))).toEqual([
      { type: 16, flags: 2, seq: 9, pid: 77, payload: [1, 2, 3, 4] },
      { type: 3, flags: 2, seq: 9, pid: 77, payload: [5] },
    ]);
  });

  it('rejects truncated and self-contradicting message headers', () => {
    const header = (length: number) => [...le32(length), ...le16(16), 0, 0, ...le32(1), ...le32(0)];
    expect(() => decodeMessages(Uint8Array.from(header(16).slice(0, 10)), 'RTM_GETLINK reply')).toThrow(
      new NetlinkDecodeError('RTM_GETLINK reply', '10 bytes at offset 0 are too few for a 16-byte message header'),
    );
    expect(() => decodeMessages(Uint8Array.from(header(8)), 'RTM_GETLINK reply')).toThrow('malformed netlink RTM_GETLINK reply: the message at offset 0 declares 8 bytes, less than its own header');
    expect(() => decodeMessages(Uint8Array.from([...header(16), ...header(40)]), 'RTM_GETLINK reply')).toThrow(
      'malformed netlink RTM_GETLINK reply: the message at offset 16 declares 40 bytes but only 16 arrived',
    );
  });

  it('reads attributes by type with the size each type has, naming them in errors', () => {
    const names = { A_U8: 1, A_U32: 2, A_STR: 3, A_NEST: 4 };
    const bytes = Uint8Array.from([...nla(1, [7]), ...nla(2, le32(0xdeadbeef)), ...nla(3, [...ascii('eth0'), 0]), ...nla(4 | 0x8000, nla(1, [1, 2]))]);
    const attrs = Attributes.decode(bytes, 'test', names);
    expect([attrs.u8(1), attrs.u32(2), attrs.string(3), attrs.u32(9), attrs.bytes(4)?.byteLength]).toEqual([7, 0xdeadbeef, 'eth0', undefined, 8]);
    expect(() => attrs.u32(1)).toThrow('malformed netlink test: attribute A_U8 has 1 bytes where 4 were expected');
    expect(() => attrs.string(2)).toThrow('malformed netlink test: string attribute A_U32 has no terminating NUL');
    expect(() => attrs.nested(4, { INNER: 1 })!.u8(1)).toThrow('malformed netlink test > A_NEST: attribute INNER has 2 bytes where 1 were expected');
  });

  it('rejects attributes that are truncated or claim more bytes than there are', () => {
    expect(() => Attributes.decode(Uint8Array.from([...nla(1, [1, 2, 3, 4]), 8, 0]), 'x', {})).toThrow('malformed netlink x: 2 bytes at attribute offset 8 are too few for an attribute header');
    expect(() => Attributes.decode(Uint8Array.from([...le16(2), ...le16(5)]), 'x', { FIVE: 5 })).toThrow('attribute FIVE at offset 0 declares 2 bytes, less than its header');
    expect(() => Attributes.decode(Uint8Array.from([...le16(12), ...le16(5), 1, 2, 3, 4]), 'x', {})).toThrow('attribute type 5 at offset 0 declares 12 bytes but only 8 remain');
  });

  it('reads the errno and the kernel message of an NLMSG_ERROR, capped or not', () => {
    const request = [...le32(32), ...le16(19), ...le16(5), ...le32(1), ...le32(0)];
    const extAck = nla(1, [...ascii('XDP program already attached'), 0]);
    const capped = message(NLMSG_ERROR, NlmFlags.CAPPED | NlmFlags.ACK_TLVS, [...le32(-16 >>> 0), ...request, ...extAck]);
    expect(decodeStatus(capped, 'r')).toEqual({ errno: 16, kernelMessage: 'XDP program already attached' });
    // Uncapped: the whole 32-byte request is echoed before the attributes.
    const echoed = message(NLMSG_ERROR, NlmFlags.ACK_TLVS, [...le32(-17 >>> 0), ...request, ...new Array<number>(16).fill(0), ...extAck]);
    expect(decodeStatus(echoed, 'r')).toEqual({ errno: 17, kernelMessage: 'XDP program already attached' });
    expect(decodeStatus(message(NLMSG_ERROR, NlmFlags.CAPPED, [...le32(0), ...request]), 'r')).toEqual({ errno: 0 });
    expect(decodeStatus(message(NLMSG_DONE, NlmFlags.MULTI, le32(0)), 'r')).toEqual({ errno: 0 });
  });

  it('rejects an NLMSG_ERROR or NLMSG_DONE that is truncated or carries nonsense', () => {
    const request = [...le32(16), ...le16(19), ...le16(5), ...le32(1), ...le32(0)];
    expect(() => decodeStatus(message(NLMSG_ERROR, 0, le32(-1 >>> 0)), 'reply to x')).toThrow('malformed netlink reply to x: NLMSG_ERROR has 4 bytes, fewer than the 20 it must carry');
    expect(() => decodeStatus(message(NLMSG_ERROR, 0, [...le32(5), ...request]), 'reply to x')).toThrow('NLMSG_ERROR carries 5, where 0 or a negated errno belongs');
    expect(() => decodeStatus(message(NLMSG_ERROR, NlmFlags.ACK_TLVS, [...le32(-1 >>> 0), ...le32(400), ...request.slice(4)]), 'reply to x')).toThrow(
      'NLMSG_ERROR echoes a request of 400 bytes in a 20-byte payload',
    );
    expect(() => decodeStatus(message(NLMSG_DONE, NlmFlags.ACK_TLVS, [...le32(-22 >>> 0), 40, 0, 1, 0]), 'reply to x')).toThrow(
      'malformed netlink reply to x > extended ack: attribute NLMSGERR_ATTR_MSG at offset 0 declares 40 bytes but only 4 remain',
    );
    expect(() => decodeStatus(message(NLMSG_DONE, 0, [1, 2]), 'reply to x')).toThrow('NLMSG_DONE has 2 bytes, fewer than the 4 it must carry');
  });

  it('decodes a link with its XDP programs per mode, and rejects a malformed one', () => {
    const ifinfomsg = [0, 0, ...le16(1), ...le32(3), ...le32(0), ...le32(0)];
    const name = nla(3, [...ascii('veth0'), 0]);
    const xdp = (inner: number[]) => nla(43 | 0x8000, inner);
    const multi = [...nla(2, [4]), ...nla(5, le32(11)), ...nla(6, le32(12))];
    expect(decodeLink(Uint8Array.from([...ifinfomsg, ...name, ...xdp(multi)]), 'l')).toEqual({ index: 3, name: 'veth0', xdp: { attached: 'multi', programIds: { driver: 11, skb: 12 } } });
    // Only IFLA_XDP_PROG_ID, as kernels before 4.18 report it.
    expect(decodeLink(Uint8Array.from([...ifinfomsg, ...name, ...xdp([...nla(2, [2]), ...nla(4, le32(9))])]), 'l').xdp).toEqual({ attached: 'skb', programIds: { skb: 9 } });
    expect(decodeLink(Uint8Array.from([...ifinfomsg, ...name]), 'l').xdp).toEqual({ attached: 'none', programIds: {} });

    expect(() => decodeLink(Uint8Array.from(ifinfomsg.slice(0, 12)), 'RTM_GETLINK reply for veth0')).toThrow('malformed netlink RTM_GETLINK reply for veth0: 12 bytes of payload are too few for its 16-byte header');
    expect(() => decodeLink(Uint8Array.from(ifinfomsg), 'l')).toThrow('malformed netlink l: the link has no IFLA_IFNAME');
    expect(() => decodeLink(Uint8Array.from([...ifinfomsg, ...name, ...xdp(nla(2, [7]))]), 'l')).toThrow('malformed netlink l > IFLA_XDP: IFLA_XDP_ATTACHED is 7, which is not an XDP_ATTACHED_* value');
    expect(() => decodeLink(Uint8Array.from([...ifinfomsg, ...name, ...xdp([...nla(2, [2]), ...nla(6, [1, 0])])]), 'l')).toThrow(
      'malformed netlink l > IFLA_XDP: attribute IFLA_XDP_SKB_PROG_ID has 2 bytes where 4 were expected',
    );
  });

  it('decodes a cls_bpf filter with its program, skips the per-priority header, and rejects a malformed one', () => {
    const tcmsg = (handle: number) => [0, 0, 0, 0, ...le32(1), ...le32(handle), ...le32(0xfffffff2), ...le32(((7 << 16) | 0x0300) >>> 0)];
    const kind = nla(1, [...ascii('bpf'), 0]);
    const options = nla(2 | 0x8000, [...nla(11, le32(42)), ...nla(7, [...ascii('count'), 0]), ...nla(8, le32(1)), ...nla(10, [1, 2, 3, 4, 5, 6, 7, 0xff])]);
    expect(decodeFilter(Uint8Array.from([...tcmsg(5), ...kind, ...options, ...nla(11, le32(0))]), 'f')).toEqual({
      priority: 7,
      handle: 5,
      protocol: 3,
      kind: 'bpf',
      chain: 0,
      bpf: { programId: 42, programName: 'count', directAction: true, tag: '01020304050607ff' },
    });
    expect(decodeFilter(Uint8Array.from([...tcmsg(0), ...kind]), 'f')).toBeUndefined();
    expect(() => decodeFilter(Uint8Array.from(tcmsg(5).slice(0, 16)), 'f')).toThrow('malformed netlink f: 16 bytes of payload are too few for its 20-byte header');
    expect(() => decodeFilter(Uint8Array.from(tcmsg(5)), 'f')).toThrow('malformed netlink f: the object has no TCA_KIND');
    expect(() => decodeFilter(Uint8Array.from([...tcmsg(5), ...kind, ...nla(2 | 0x8000, nla(11, [1]))]), 'f')).toThrow('malformed netlink f > TCA_OPTIONS: attribute TCA_BPF_ID has 1 bytes where 4 were expected');
  });
});
