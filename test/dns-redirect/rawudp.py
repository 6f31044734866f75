#!/usr/bin/env python3
"""Raw packets for the tc-dns-redirect scenario test, run inside a network
namespace with `ip netns exec`. Each mode prints JSON lines:

  send IFACE HEX                 send one Ethernet frame out of IFACE (AF_PACKET)
  receive ADDRESS PORT SECONDS   bind a UDP socket, print {"ready"}, then the first
                                 datagram it gets or {"received": false}
  capture IFACE SRC SPORT SECONDS
                                 print {"ready"}, then the first IPv4/UDP frame seen
                                 on IFACE from SRC:SPORT with the kernel's packet
                                 status (tp_status of PACKET_AUXDATA), or {"frame": null}

The receiving kernel verifies the UDP checksum of what `receive` gets unless
the skb says it need not; `capture` shows whether it is still to be computed
(TP_STATUS_CSUMNOTREADY, a CHECKSUM_PARTIAL skb).
"""
import json
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
# struct tpacket_auxdata: tp_status, tp_len, tp_snaplen (u32); tp_mac, tp_net, tp_vlan_tci, tp_vlan_tpid (u16)
AUXDATA = struct.Struct("=IIIHHHH")


def say(**fields):
    print(json.dumps(fields), flush=True)


def send(iface, frame_hex):
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((iface, 0))
        sent = s.send(bytes.fromhex(frame_hex))
    say(sent=sent)


def receive(address, port, seconds):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, int(port)))
        say(ready=True)
        readable, _, _ = select.select([s], [], [], float(seconds))
        if not readable:
            say(received=False)
            return
        data, (peer, peer_port) = s.recvfrom(65535)
        say(received=True, peer=peer, peerPort=peer_port, payload=data.hex())


def matches(frame, src, sport):
    if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return False
    ihl = (frame[14] & 0x0F) * 4
    source = socket.inet_ntoa(frame[26:30])
    (source_port,) = struct.unpack("!H", frame[14 + ihl : 16 + ihl])
    return source == src and source_port == sport


def capture(iface, src, sport, seconds):
    deadline = time.monotonic() + float(seconds)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as s:
        s.bind((iface, 0))
        s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        say(ready=True)
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([s], [], [], left)
            if not readable:
                break
            frame, ancillary, _, _ = s.recvmsg(65535, socket.CMSG_SPACE(AUXDATA.size))
            if not matches(frame, src, int(sport)):
                continue
            status = next(AUXDATA.unpack(data[: AUXDATA.size])[0] for level, kind, data in ancillary if level == SOL_PACKET and kind == PACKET_AUXDATA)
            say(frame=frame.hex(), status=status)
            return
    say(frame=None)


MODES = {"send": send, "receive": receive, "capture": capture}

if __name__ == "__main__":
    MODES[sys.argv[1]](*sys.argv[2:])
