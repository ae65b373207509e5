"""Listening TCP sockets and their owners, read from /proc (no ss/netstat needed)."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    inode: int

    @property
    def loopback(self) -> bool:
        ip = ipaddress.ip_address(self.address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback


def _addr(hex_addr: str) -> str:
    if len(hex_addr) == 8:
        return socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(hex_addr, 16)))
    words = [struct.pack("<I", int(hex_addr[i:i + 8], 16)) for i in range(0, 32, 8)]
    return socket.inet_ntop(socket.AF_INET6, b"".join(words))


def listeners(pid: int | str = "self") -> list[Listener]:
    """TCP listeners of the network namespace *pid* is in (/proc/<pid>/net/tcp and tcp6)."""
    out = []
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != LISTEN:
                continue
            host, port = f[1].split(":")
            out.append(Listener(_addr(host), int(port, 16), int(f[9])))
    return out


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets process *pid* holds."""
    found: set[int] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def netns(pid: int | str = "self") -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def interfaces(pid: int | str = "self") -> list[str]:
    lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines]
