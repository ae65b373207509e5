"""No simulator daemon of a whole simulated terminal listens where the LAN could reach it (issue #18 item 5).

cupsd, ippeveprinter and avahi run in a network namespace of the CUPS stack, pcscd in one of its own; seen from
the host's network namespace (/proc/net/tcp and tcp6), none of the daemons the terminal started holds a
listening socket on a non-loopback address."""

from __future__ import annotations

from _netstat import listeners, socket_inodes
from _simulated_service import SimService

from gtsdk import leftovers


def test_no_daemon_of_the_simulated_terminal_listens_off_loopback(sim_service: SimService) -> None:
    daemons = {int(p["pid"]): str(p["label"]) for p in leftovers.ledger().processes.values()}
    assert {"pcscd", "cupsd", "ippeveprinter", "avahi-daemon"} <= set(daemons.values()), daemons
    host = listeners()
    exposed = []
    for pid, label in daemons.items():
        owned = socket_inodes(pid)
        exposed += [(label, x.address, x.port) for x in host if x.inode in owned and not x.loopback]
    assert not exposed, f"listening where the LAN can reach: {exposed}"
