#!/usr/bin/env python3
"""Delay, jitter and loss on a link, for kernels without `tc netem` (sch_netem).

The kernel hands every packet that an iptables NFQUEUE rule selects to this process (nfnetlink
queue, spoken here over a raw netlink socket, so nothing needs building). Each packet is dropped
with probability LOSS, or accepted after DELAY ± JITTER milliseconds (uniform), as netem's
`delay D J loss L` does. Packets are real kernel packets: TCP sees the loss and retransmits.

    iptables -A OUTPUT -o DEV -j NFQUEUE --queue-num 7 --queue-bypass
    iptables -A INPUT  -i DEV -j NFQUEUE --queue-num 7 --queue-bypass
    python3 Scripts/link-impair.py --queue 7 --delay 15 --jitter 5 --loss 2 --seed 1

It runs until SIGTERM or SIGINT and then prints what it did on one line. `--queue-bypass` lets
packets pass untouched while no process holds the queue. Needs CAP_NET_ADMIN in its namespace.
"""
import argparse
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NF_DROP, NF_ACCEPT = 0, 1


def attribute(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


class Queue:
    """One nfnetlink queue bound on a raw netlink socket."""

    def __init__(self, number):
        self.number = number
        self.sequence = 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.request(NFQNL_MSG_CONFIG, attribute(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0)))
        self.request(NFQNL_MSG_CONFIG, attribute(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)))

    def send(self, message, attributes, flags):
        self.sequence += 1
        body = struct.pack("!BBH", socket.AF_UNSPEC, 0, self.number) + attributes
        header = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | message, flags, self.sequence, 0)
        self.sock.send(header + body)

    def request(self, message, attributes):
        """Sends a configuration request and waits for the kernel's acknowledgement."""
        self.send(message, attributes, NLM_F_REQUEST | NLM_F_ACK)
        while True:
            data = self.sock.recv(65536)
            for kind, payload in self.messages(data):
                if kind == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", payload)
                    if code != 0:
                        sys.exit("error: nfnetlink queue %d: %s" % (self.number, os.strerror(-code)))
                    return

    @staticmethod
    def messages(data):
        offset = 0
        while offset + 16 <= len(data):
            length, kind, _, _, _ = struct.unpack_from("=IHHII", data, offset)
            if length < 16:
                return
            yield kind, data[offset + 16 : offset + length]
            offset += (length + 3) & ~3

    def packet_ids(self):
        """The ids of the packets waiting in one read of the socket."""
        data = self.sock.recv(1 << 20)
        for kind, payload in self.messages(data):
            if kind & 0xFF != NFQNL_MSG_PACKET:
                continue
            offset = 4  # past nfgenmsg
            while offset + 4 <= len(payload):
                length, attr = struct.unpack_from("=HH", payload, offset)
                if length < 4:
                    break
                if attr & 0x7FFF == NFQA_PACKET_HDR:
                    yield struct.unpack_from("!I", payload, offset + 4)[0]
                    break
                offset += (length + 3) & ~3

    def verdict(self, packet_id, verdict):
        self.send(NFQNL_MSG_VERDICT, attribute(NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet_id)), NLM_F_REQUEST)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue", type=int, required=True, help="the NFQUEUE number of the iptables rules")
    parser.add_argument("--delay", type=float, default=0.0, help="milliseconds added to every packet")
    parser.add_argument("--jitter", type=float, default=0.0, help="± milliseconds, uniform")
    parser.add_argument("--loss", type=float, default=0.0, help="percent of packets dropped")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ready", help="a file written once the queue is bound")
    args = parser.parse_args()
    if args.jitter > args.delay or args.delay < 0 or not 0 <= args.loss <= 100:
        sys.exit("error: need 0 <= jitter <= delay and 0 <= loss <= 100")
    draw = random.Random(args.seed)
    queue = Queue(args.queue)
    if args.ready:
        open(args.ready, "w").close()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    held = []  # (release time, arrival order, packet id)
    seen = dropped = 0
    while not stopping:
        now = time.monotonic()
        while held and held[0][0] <= now:
            queue.verdict(heapq.heappop(held)[2], NF_ACCEPT)
        timeout = max(0.0, held[0][0] - now) if held else 0.2
        try:
            readable, _, _ = select.select([queue.sock], [], [], timeout)
        except InterruptedError:
            continue
        if not readable:
            continue
        try:
            ids = list(queue.packet_ids())
        except OSError:  # ENOBUFS: the kernel dropped queued packets itself; they count as lost
            continue
        for packet_id in ids:
            seen += 1
            if draw.random() * 100 < args.loss:
                dropped += 1
                queue.verdict(packet_id, NF_DROP)
                continue
            wait = (args.delay + draw.uniform(-args.jitter, args.jitter)) / 1000
            heapq.heappush(held, (time.monotonic() + wait, seen, packet_id))
    for _, _, packet_id in held:
        queue.verdict(packet_id, NF_ACCEPT)
    print("queue %d: %d packets, %d dropped (%.1f %%), delay %g ± %g ms"
          % (args.queue, seen, dropped, 100 * dropped / max(seen, 1), args.delay, args.jitter))


if __name__ == "__main__":
    main()
