"""Which records the platform has not confirmed yet, and when to publish one again (the agent's loss recovery).

A record leaves the outbox only on the platform's receipt (``…/ack``), so a record, or its receipt, that is lost
on the way — a broker that dropped it (Mosquitto 2.0 restores a persistent session after a restart but not its
*shared* subscriptions, so what terminals publish before the ingest workers subscribe again is dropped), a
receipt cut off with a bridge link, a QoS 0 receipt the broker never delivered — must be published again, soon,
and without flooding a platform that is merely slow.  The rules are those of TCP's RACK-TLP (RFC 8985), on
records instead of segments:

* every transmission of a record gets a new number ``tx`` (an MQTT 5 user property, echoed in the receipt), so a
  receipt tells *which* transmission arrived and when it was sent;
* **RACK**: a record is lost when a record sent *after* it was confirmed and it has still not been confirmed
  ``srtt + reorder`` seconds after it was sent (``reorder`` = max(:data:`REORDER_MIN`, srtt): several ingest
  workers on a shared subscription may commit out of order).  A platform that is slow confirms records in the
  order they reached the broker, so slowness alone never looks like loss;
* **TLP**: when nothing was confirmed and nothing sent for the probe timeout (``probe_after``, at least 2·srtt,
  doubling while nothing is confirmed, at most ``probe_max``) the newest unconfirmed record is published again as a
  probe — one message, whatever the window.  Its receipt makes RACK see what was lost before it; a platform that
  is down receives one probe per timeout and terminal instead of a window of duplicates;
* the platform's announcement of a new epoch (an ingest worker that connected) asks for a probe at once.

The round-trip estimate (``srtt``) follows RFC 6298's smoothing, from receipts of records sent once.
"""

from __future__ import annotations

from dataclasses import dataclass

#: seconds of reordering tolerated between records confirmed by different ingest workers, at least
REORDER_MIN = 1.0
#: smoothing of the round-trip estimate (RFC 6298: alpha = 1/8)
ALPHA = 0.125


@dataclass
class Flight:
    seq: int
    record_id: str
    version: int
    tx: int  # the latest transmission
    sent: float  # monotonic time of the latest transmission
    mid: int  # its MQTT packet id (PUBACK failures name it)
    sends: int = 1


class Flights:
    """The unconfirmed records of one agent (``seq`` → :class:`Flight`); times are monotonic seconds."""

    def __init__(self, probe_after: float = 5.0, probe_max: float = 600.0) -> None:
        if not 0 < probe_after <= probe_max:
            raise ValueError("need 0 < probe_after <= probe_max")
        self.probe_after = probe_after
        self.probe_max = probe_max
        self.srtt: float | None = None
        self._flights: dict[int, Flight] = {}
        self._by_mid: dict[int, int] = {}
        self._tx = 0
        self._rack_sent = float("-inf")  # send time of the newest transmission the platform confirmed
        self._last_activity = 0.0  # last send or confirmation
        self._probes = 0  # probes sent since the last confirmation (the back-off exponent)
        self._probe_asap = False

    def __len__(self) -> int:
        return len(self._flights)

    def __contains__(self, seq: int) -> bool:
        return seq in self._flights

    def seqs(self) -> list[int]:
        return sorted(self._flights)

    def next_tx(self) -> int:
        """The number of the next transmission (put it in the message before publishing it)."""
        return self._tx + 1

    def sent(self, seq: int, record_id: str, version: int, mid: int, now: float) -> Flight:
        """Record a transmission of *seq* (a first one or again) numbered :meth:`next_tx`."""
        self._tx += 1
        f = self._flights.get(seq)
        if f is None:
            f = self._flights[seq] = Flight(seq, record_id, version, self._tx, now, mid)
        else:
            self._by_mid.pop(f.mid, None)
            f.tx, f.sent, f.mid, f.sends = self._tx, now, mid, f.sends + 1
        self._by_mid[mid] = seq
        self._last_activity = max(self._last_activity, now)
        return f

    def confirmed(self, seq: int, tx: int | None, now: float) -> Flight | None:
        """The platform confirmed (or refused for good) *seq*; *tx* is the transmission its receipt names."""
        self._last_activity = max(self._last_activity, now)
        self._probes = 0
        f = self._forget(seq)
        if f is None or tx != f.tx:
            # an earlier transmission of a record sent again meanwhile: it says nothing about the later one's fate,
            # nor a round-trip time (Karn's rule)
            return f
        self._rack_sent = max(self._rack_sent, f.sent)
        if f.sends == 1:
            rtt = max(0.0, now - f.sent)
            self.srtt = rtt if self.srtt is None else (1 - ALPHA) * self.srtt + ALPHA * rtt
        return f

    def failed(self, mid: int) -> Flight | None:
        """The broker refused the transmission *mid* (PUBACK with an error): the record is no longer in flight."""
        seq = self._by_mid.get(mid)
        return None if seq is None else self._forget(seq)

    def _forget(self, seq: int) -> Flight | None:
        f = self._flights.pop(seq, None)
        if f is not None:
            self._by_mid.pop(f.mid, None)
        return f

    def lost(self, now: float) -> list[int]:
        """RACK: records sent before a confirmed one and still unconfirmed after ``srtt + reorder``."""
        rtt = self.srtt or 0.0
        wait = rtt + max(REORDER_MIN, rtt)
        return sorted(f.seq for f in self._flights.values() if f.sent < self._rack_sent and now - f.sent >= wait)

    def probe_timeout(self) -> float:
        base = max(self.probe_after, 2 * (self.srtt or 0.0))
        return float(min(self.probe_max, base * 2 ** min(self._probes, 30)))

    def probe_due(self, now: float) -> int | None:
        """TLP: the seq to publish again as a probe now, or None."""
        if not self._flights:
            self._probe_asap = False
            return None
        if not self._probe_asap and now - self._last_activity < self.probe_timeout():
            return None
        self._probe_asap = False
        self._probes += 1
        return max(self._flights)

    def probe_soon(self) -> None:
        """The platform announced a new epoch: probe at the next opportunity, whatever the timer says."""
        self._probe_asap = True

    def clear(self) -> None:
        """Everything will be published again from the start of the outbox (a new connection, a lost session)."""
        self._flights.clear()
        self._by_mid.clear()
        self._probe_asap = False
        self._probes = 0  # everything was just published again: the silence before says nothing any more
