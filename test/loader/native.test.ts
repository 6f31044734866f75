/** The syscall shim's socket wrappers against the kernel, through a NETLINK_ROUTE socket. */
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { expect, it } from 'vitest';
import { native } from '../../src/loader/native.js';
import { describeWithBpf } from './support.js';

// Values from linux/socket.h, linux/netlink.h and linux/rtnetlink.h.
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NLMSG_HDRLEN = 16;
const IFINFOMSG_LEN = 16;

describeWithBpf('native shim sockets', () => {
  it('dumps links over rtnetlink: socket, bind, setsockopt, getsockopt, sendto, recvfrom, close', () => {
    const shim = native();
    const fd = shim.socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    try {
      // struct sockaddr_nl { u16 family; u16 pad; u32 pid; u32 groups; }
      const address = new Uint8Array(12);
      new DataView(address.buffer).setUint16(0, AF_NETLINK, true);
      shim.bind(fd, address);

      const size = new Uint8Array(4);
      new DataView(size.buffer).setUint32(0, 1 << 16, true);
      shim.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size);
      const out = new Uint8Array(4);
      expect(shim.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, out)).toBe(4);
      // socket(7): the kernel doubles the value to allow for bookkeeping.
      expect(new DataView(out.buffer).getUint32(0, true)).toBe(2 << 16);

      const request = new Uint8Array(NLMSG_HDRLEN + IFINFOMSG_LEN);
      const view = new DataView(request.buffer);
      view.setUint32(0, request.byteLength, true);
      view.setUint16(4, RTM_GETLINK, true);
      view.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
      view.setUint32(8, 1, true);
      expect(shim.sendto(fd, request, 0, address)).toBe(request.byteLength);

      const reply = new Uint8Array(1 << 16);
      const sender = new Uint8Array(12);
      const length = shim.recvfrom(fd, reply, 0, sender);
      const replyView = new DataView(reply.buffer);
      expect(length).toBeGreaterThanOrEqual(NLMSG_HDRLEN + IFINFOMSG_LEN);
      expect(replyView.getUint16(4, true)).toBe(RTM_NEWLINK);
      expect(replyView.getUint32(8, true)).toBe(1);
      // The kernel answers from port id 0.
      expect(new DataView(sender.buffer).getUint32(4, true)).toBe(0);
      const text = Buffer.from(reply.subarray(0, length)).toString('latin1');
      expect(text).toContain('lo\0');
    } finally {
      shim.close(fd);
    }
    expect(() => shim.close(fd)).toThrow(expect.objectContaining({ code: 'EBADF', errno: constants.errno.EBADF, syscall: 'close' }));
  });

  it('looks up interface indexes', () => {
    expect(native().if_nametoindex('lo')).toBe(Number(readFileSync('/sys/class/net/lo/ifindex', 'utf8')));
    expect(() => native().if_nametoindex('bpfgen-none0')).toThrow(expect.objectContaining({ code: 'ENODEV', syscall: 'if_nametoindex' }));
  });

  it('refuses pointer patches that do not fit their holder', () => {
    const attr = new Uint8Array(16);
    expect(() => native().bpf(0, attr, [[attr, 12, new Uint8Array(4)]])).toThrow('pointers[0]: offset 12 does not fit a u64 in a holder of 16 bytes');
    expect(() => native().bpf(0, attr, [[attr, 0] as never])).toThrow('pointers[0] must be [holder, offset, pointee]');
  });
});
