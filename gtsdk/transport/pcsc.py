"""A PC/SC reader and the card on it, through pyscard's ``smartcard.scard`` (pcsc-lite), with deadlines.

:class:`PcscReader` finds the reader (by exact name or a unique part of it), answers
whether a card is present, and connects to the card; :class:`PcscCard` exchanges APDUs.

PC/SC has no timeout on ``SCardTransmit``: a card (or a reader driver) that never answers
blocks the calling thread, and pcsc-lite holds the context's lock meanwhile.  So every
PC/SC call here runs on a helper thread and is waited for at most its bound: the
operation's deadline, and ``apdu_timeout`` / ``service_timeout`` seconds.  A call that
does not return in time is abandoned (its card session is closed once the call returns;
until then :meth:`PcscReader.wait_card` waits for the reader instead of stacking a
second blocked call behind it), and the operation gets ``timeOut``, ``canceled`` or
``communicationError``.  Card sessions run on their own thread and PC/SC context (kept
from one session to the next while healthy), apart from the reader's, so a stuck
exchange never blocks the presence checks.

Errors: pcscd not running / gone, the reader unplugged → ``noDevice``; the card left the
reader during an exchange → ``noMedia``; the card does not answer → ``communicationError``.

**The pcscd socket.** libpcsclite reads ``PCSCLITE_CSOCK_NAME`` (the path of pcscd's client
socket) once per process, when the process first talks to pcscd.  :func:`use_socket`
(the drivers' ``pcsc_socket`` setting) sets it before that; asking for a different socket
afterwards is a ``configError`` — one process talks to one pcscd.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from gtsdk.driver import DriverSettings, OpContext
from gtsdk.errors import ConfigError, ErrorCode, GtsdkError
from gtsdk.transport import io_timeout

try:  # the iddocs extra
    from smartcard import scard
except ImportError:  # pragma: no cover - reported by PcscReader.open
    scard = None

log = logging.getLogger("gtsdk.transport.pcsc")

__all__ = ["SOCKET_ENV", "PcscCard", "PcscReader", "PcscSettings", "use_socket"]

SOCKET_ENV = "PCSCLITE_CSOCK_NAME"
#: slice of a wait, so cancel is noticed promptly
SLICE = 0.05
#: how often pcscd asks a reader driver without an event callback (vpcd, most serial readers) whether a card is
#: present: pcsc-lite's ``PCSCLITE_STATUS_POLL_RATE``, 400 ms (``src/pcscd.h``; docs/test-peers.md §2).  Until that
#: poll runs, pcscd still reports a card that has left.
PCSCD_POLL = 0.4
#: how long a failed exchange watches presence to tell "card removed" from "card mute": several of pcscd's polls,
#: because on a loaded machine pcscd's poll thread, and each status round trip, run late (one check was measured
#: at 1.1 s beside busy loops)
REMOVAL_GRACE = 4 * PCSCD_POLL

_T = TypeVar("_T")


def _hr(code: int) -> int:
    return code & 0xFFFFFFFF


def _codes(*names: str) -> frozenset[int]:
    return frozenset(_hr(getattr(scard, n)) for n in names if scard is not None and hasattr(scard, n))


_NO_SERVICE = _codes("SCARD_E_NO_SERVICE", "SCARD_E_SERVICE_STOPPED", "SCARD_E_INVALID_HANDLE",
                     "SCARD_E_UNKNOWN_READER", "SCARD_E_READER_UNAVAILABLE", "SCARD_E_NO_READERS_AVAILABLE")
_NO_CARD = _codes("SCARD_E_NO_SMARTCARD", "SCARD_W_REMOVED_CARD", "SCARD_W_RESET_CARD", "SCARD_W_UNPOWERED_CARD",
                  "SCARD_W_UNRESPONSIVE_CARD")
#: pcscd's view of the card changed between a session's connect and its first exchange: the card was reset or
#: re-powered under the handle (``SCARD_W_RESET_CARD``, ``SCARD_W_UNPOWERED_CARD``), a document swapped faster than
#: pcscd polls the reader was seen leaving (``SCARD_W_REMOVED_CARD``), or it was powered up again after the handle
#: chose its protocol, leaving the reader's protocol unset (``SCARD_E_PROTO_MISMATCH``: pcsc-lite's SCardTransmit
#: compares the handle's protocol with the reader's).  SCardReconnect is PC/SC's answer to each: it powers the card
#: in the reader, negotiates the protocol again and clears the handle's event (docs/test-peers.md §2).
_STALE = _codes("SCARD_E_PROTO_MISMATCH", "SCARD_W_RESET_CARD", "SCARD_W_UNPOWERED_CARD", "SCARD_W_REMOVED_CARD")


class PcscSettings(DriverSettings):
    """Settings every PC/SC driver accepts (extend in the driver's own model)."""

    reader: str = ""  # PC/SC reader name, or a unique part of it; empty: the first reader
    pcsc_socket: str | None = None  # pcscd's client socket (PCSCLITE_CSOCK_NAME); None: the environment or default
    apdu_timeout: float = 5.0  # seconds one APDU exchange may take (always cut to the operation's deadline)
    service_timeout: float = 5.0  # seconds any other PC/SC call may take (context, reader list, connect)


_socket_lock = threading.Lock()
_socket_in_use: str | None = None  # what libpcsclite was pointed at when this module first talked to pcscd


def use_socket(path: str | None) -> None:
    """Point libpcsclite at pcscd's client socket *path* (``None``: leave the environment as it is).

    Effective only before this process first talks to pcscd: libpcsclite reads
    ``PCSCLITE_CSOCK_NAME`` once.  A different path after that is a ``configError``.
    """
    with _socket_lock:
        if path is None:
            return
        if _socket_in_use is not None and os.path.abspath(path) != _socket_in_use:
            raise ConfigError("pcsc_socket", f"this process already talks to pcscd at {_socket_in_use}; libpcsclite "
                              "reads PCSCLITE_CSOCK_NAME once per process")
        os.environ[SOCKET_ENV] = os.path.abspath(path)


def _first_contact() -> None:
    """Remember which socket libpcsclite uses from now on (called before every context is made)."""
    global _socket_in_use
    with _socket_lock:
        if _socket_in_use is None:
            _socket_in_use = os.path.abspath(os.environ.get(SOCKET_ENV, "") or "/run/pcscd/pcscd.comm")


class _Worker:
    """Runs blocking PC/SC calls on one daemon thread; the caller waits for each at most its bound.

    A call that overruns keeps the thread until it returns; meanwhile :attr:`busy` is true
    and further calls are refused, so blocked calls never pile up.
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._pending: Future[Any] | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to the caller through the future, re-raised there
                fut.set_exception(e)

    @property
    def busy(self) -> bool:
        return self._pending is not None and not self._pending.done()

    def call(self, fn: Callable[[], _T], bound: float, ctx: OpContext | None, what: str) -> _T:
        """``fn()`` on the worker; ``communicationError`` after *bound* s, ``timeOut``/``canceled`` from *ctx*."""
        if self.busy:
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"{what}: the reader has not returned an earlier call")
        fut: Future[_T] = Future()
        self._pending = fut
        self._jobs.put((fn, fut))
        until = time.monotonic() + bound
        while True:
            try:
                return fut.result(timeout=min(SLICE, max(0.0, until - time.monotonic())))
            except FutureTimeout:
                pass
            if ctx is not None:
                ctx.check()
            if time.monotonic() >= until:
                raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"{what}: no answer within {bound:.3g} s")

    def after(self, fn: Callable[[], object]) -> None:
        """Run *fn* once the current call (if any) has returned, then end the thread; :attr:`busy`
        until *fn* is done."""
        fut: Future[Any] = Future()
        self._jobs.put((fn, fut))
        self._jobs.put(None)
        self._pending = fut

    def finish(self, fn: Callable[[], object], bound: float) -> None:
        """Run *fn* and end the thread: now, waiting up to *bound* s (a disconnect must be done before
        the caller goes on, or it could act on the next card), or once a stuck call returns."""
        if self.busy:
            self.after(fn)
            return
        try:
            self.call(fn, bound, None, "PC/SC release")
        except GtsdkError as e:  # pcscd does not answer: the thread ends when the call returns
            log.warning("%s", e.detail)
        finally:
            self._jobs.put(None)


def _check(hr: int, what: str) -> None:
    code = _hr(hr)
    if code == 0:
        return
    if code in _NO_SERVICE:
        raise GtsdkError(ErrorCode.NO_DEVICE, f"{what}: PC/SC service or reader not available (0x{code:08X})")
    if code in _NO_CARD:
        raise GtsdkError(ErrorCode.NO_MEDIA, f"{what}: no card in the reader (0x{code:08X})")
    raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, f"{what}: PC/SC error 0x{code:08X}")


def _establish() -> int:
    _first_contact()
    hr, hcontext = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    _check(hr, "PC/SC context")
    return int(hcontext)


def _release_context(hcontext: int) -> None:
    scard.SCardReleaseContext(hcontext)


class _Lane:
    """Where card sessions run: a worker thread with its own PC/SC context, kept from one session to
    the next.  A lane whose call overruns is given up: its context is released once the call returns."""

    def __init__(self) -> None:
        self.worker = _Worker("gtsdk-pcsc-card")
        self.hcontext: int | None = None
        self.hcards: set[int] = set()  # connected card handles (touched on the worker thread only)

    def connect(self, reader: str) -> tuple[int, int] | None:
        """On the worker: a card handle and its protocol, or ``None`` when there is no card."""
        if self.hcontext is None:
            self.hcontext = _establish()
        hr, hcard, protocol = scard.SCardConnect(self.hcontext, reader, scard.SCARD_SHARE_SHARED,
                                                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        if _hr(hr) in _NO_CARD:
            return None
        _check(hr, "PC/SC connect")
        self.hcards.add(int(hcard))
        return int(hcard), int(protocol)

    def disconnect(self, hcard: int) -> None:
        """On the worker: end a card session, powering the card down."""
        self.hcards.discard(hcard)
        scard.SCardDisconnect(hcard, scard.SCARD_UNPOWER_CARD)

    def retire(self, bound: float) -> None:
        """End the lane (now, or once a stuck call returns): disconnect what is connected, release the context."""
        def release() -> None:
            for hcard in list(self.hcards):
                self.disconnect(hcard)
            if self.hcontext is not None:
                _release_context(self.hcontext)

        self.worker.finish(release, bound)


class PcscCard:
    """One connection to the card on a reader; its exchanges run on the reader's card lane."""

    def __init__(self, reader: PcscReader, lane: _Lane, hcard: int, protocol: int) -> None:
        self.reader = reader
        self._lane = lane
        self._hcard = hcard
        self._protocol = protocol
        self._closed = False
        self._fresh = True  # no exchange yet: nothing of the session is lost by reconnecting
        #: how many times this session reconnected (at most once, before its first exchange went through)
        self.reconnects = 0

    def _on_lane(self, fn: Callable[[], _T], bound: float, ctx: OpContext, what: str) -> _T:
        try:
            return self._lane.worker.call(fn, io_timeout(bound, ctx), ctx, what)
        except GtsdkError:
            if self._lane.worker.busy:  # abandoned mid-call: this session is over
                self._closed = True
                self.reader.abandon(self._lane)
            raise

    def _reconnect(self, ctx: OpContext) -> None:
        """SCardReconnect with a warm reset: the card now in the reader, powered and with its protocol negotiated
        again — what a fresh session would get."""
        def again() -> tuple[int, int]:
            hr, protocol = scard.SCardReconnect(self._hcard, scard.SCARD_SHARE_SHARED,
                                                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
                                                scard.SCARD_RESET_CARD)
            return int(hr), int(protocol)

        hr, protocol = self._on_lane(again, self.reader.service_timeout, ctx, "PC/SC reconnect")
        if _hr(hr) in _NO_CARD:
            raise GtsdkError(ErrorCode.NO_MEDIA, f"the card left the reader (0x{_hr(hr):08X})")
        _check(hr, "PC/SC reconnect")
        self._protocol = protocol
        self.reconnects += 1

    def transmit(self, apdu: bytes, ctx: OpContext) -> tuple[bytes, int]:
        """Send one command APDU; the response data and the status word (``0x9000`` …).

        When the session's first exchange finds the card stale (:data:`_STALE`: reset, re-powered or swapped
        under the handle since the connect), the session reconnects once and sends the APDU again: nothing was
        exchanged yet, so nothing is lost.  Later, the same errors end the session (``noMedia``): whatever state
        the card held for it (secure messaging keys, a selected file) is gone."""
        ctx.check()
        if self._closed:
            raise GtsdkError(ErrorCode.NO_MEDIA, "the card session is closed")

        def exchange() -> tuple[int, list[int]]:
            hr, resp = scard.SCardTransmit(self._hcard, self._protocol, list(apdu))
            return int(hr), list(resp)

        hr, resp = self._on_lane(exchange, self.reader.apdu_timeout, ctx, "APDU")
        if self._fresh and _hr(hr) in _STALE:
            log.info("the card changed under a new session (0x%08X): reconnecting", _hr(hr))
            self._reconnect(ctx)
            hr, resp = self._on_lane(exchange, self.reader.apdu_timeout, ctx, "APDU")
        self._fresh = False
        if _hr(hr) != 0 or len(resp) < 2:
            if _hr(hr) in _NO_CARD or self.reader.card_gone(ctx):
                raise GtsdkError(ErrorCode.NO_MEDIA, "the card left the reader during the exchange")
            _check(hr, "APDU")
            raise GtsdkError(ErrorCode.COMMUNICATION_ERROR, "the card's answer has no status word")
        return bytes(resp[:-2]), (resp[-2] << 8) | resp[-1]

    @property
    def stuck(self) -> bool:
        """An exchange of this session overran and has not returned yet."""
        return self._closed and self._lane.worker.busy

    def close(self) -> None:
        """Disconnect, before returning (a late disconnect could act on the next card).

        The card is powered down (as pyscard does by default): whatever session state a chip
        holds (secure messaging keys, a selected application) does not leak into the next
        session, and a card swapped faster than pcscd polls the reader is powered up afresh.
        After an abandoned exchange the disconnect waits for that exchange to return, and the
        reader stays :attr:`PcscReader.busy` until then.
        """
        if self._closed:
            return
        self._closed = True
        lane, hcard = self._lane, self._hcard
        try:
            lane.worker.call(lambda: lane.disconnect(hcard), self.reader.service_timeout, None, "PC/SC disconnect")
        except GtsdkError:  # pcscd does not answer: give the lane up, disconnecting when it can
            self.reader.abandon(lane)


class PcscReader:
    """One PC/SC reader, found by name; presence checks and card connections."""

    def __init__(self, reader: str = "", *, socket: str | None = None, apdu_timeout: float = 5.0,
                 service_timeout: float = 5.0) -> None:
        self.want = reader
        self.socket = socket
        self.apdu_timeout = apdu_timeout
        self.service_timeout = service_timeout
        self.name = ""
        self._hcontext: int | None = None
        self._worker: _Worker | None = None
        self._lane: _Lane | None = None
        self._abandoned: list[_Lane] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, s: PcscSettings) -> PcscReader:
        return cls(s.reader, socket=s.pcsc_socket, apdu_timeout=s.apdu_timeout, service_timeout=s.service_timeout)

    @property
    def is_open(self) -> bool:
        return self._hcontext is not None

    def _call(self, fn: Callable[[], _T], what: str, ctx: OpContext | None = None) -> _T:
        if self._worker is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, "PC/SC reader not open")
        try:
            return self._worker.call(fn, io_timeout(self.service_timeout, ctx), ctx, what)
        except GtsdkError as e:
            if self._worker is not None and self._worker.busy:  # the call is stuck in pcscd: start afresh later
                self.close()
                if e.code == ErrorCode.COMMUNICATION_ERROR:
                    raise GtsdkError(ErrorCode.NO_DEVICE, f"{what}: the PC/SC service does not answer") from None
            elif e.code == ErrorCode.NO_DEVICE:
                self.close()
            raise

    def open(self) -> None:
        """Make a PC/SC context and find the reader (closing a previous session first)."""
        if scard is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, "pyscard is not installed (pip install gtsdk[iddocs])")
        self.close()
        use_socket(self.socket)
        self._worker = _Worker("gtsdk-pcsc-reader")
        self._hcontext = self._call(_establish, "PC/SC context")
        hcontext = self._hcontext

        def names() -> list[str]:
            hr, found = scard.SCardListReaders(hcontext, [])
            _check(hr, "PC/SC reader list")
            return [str(r) for r in found]

        found = self._call(names, "PC/SC reader list")
        match = [r for r in found if r == self.want] or [r for r in found if self.want in r]
        if not match:
            self.close()
            raise GtsdkError(ErrorCode.NO_DEVICE, f"PC/SC reader {self.want!r} not found")
        self.name = match[0]

    def close(self) -> None:
        """Release the contexts and end the helper threads (card sessions close themselves first)."""
        with self._lock:
            lane, self._lane = self._lane, None
        if lane is not None:
            lane.retire(self.service_timeout)
        hcontext, self._hcontext = self._hcontext, None
        worker, self._worker = self._worker, None
        if worker is not None:

            def release() -> None:
                if hcontext is not None:
                    _release_context(hcontext)

            worker.finish(release, self.service_timeout)

    # ---- presence ---------------------------------------------------------------------------
    def card_present(self, ctx: OpContext | None = None) -> bool:
        """Whether a card sits in the reader now (``noDevice`` if the reader or pcscd went away)."""
        hcontext, name = self._hcontext, self.name
        if hcontext is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, "PC/SC reader not open")

        def status() -> bool:
            hr, states = scard.SCardGetStatusChange(hcontext, 0, [(name, scard.SCARD_STATE_UNAWARE)])
            if _hr(hr) not in (0, _hr(scard.SCARD_E_TIMEOUT)) or not states:
                _check(hr or scard.SCARD_E_READER_UNAVAILABLE, "PC/SC reader status")
            return bool(states[0][1] & scard.SCARD_STATE_PRESENT)

        return self._call(status, "PC/SC reader status", ctx)

    def card_gone(self, ctx: OpContext) -> bool:
        """After a failed exchange: did the card leave?

        pcscd notices a card leaving on its next poll of the reader (:data:`PCSCD_POLL`), so presence is
        watched for :data:`REMOVAL_GRACE` s, and "still there" is only concluded from a check made after that
        window: under load a single check can take most of the window, and one that started early would call a
        pulled card mute.  The operation's end comes first: once its deadline has passed or it was cancelled,
        that is the outcome (``timeOut`` / ``canceled``), not a guess about the card — a verdict reached after
        the caller was answered would only mislead the next operation.
        """
        end = time.monotonic() + REMOVAL_GRACE
        while True:
            ctx.check()
            last = time.monotonic() >= end
            try:
                if not self.card_present(ctx):
                    return True
            except GtsdkError:
                ctx.check()  # the operation ended during the check: that is the outcome
                return False
            if last:
                return False
            ctx.sleep(SLICE)

    # ---- card sessions --------------------------------------------------------------------------
    def abandon(self, lane: _Lane) -> None:
        """*lane*'s call does not return: give the lane up (its card disconnected and its context released
        once the call returns) and remember it until then."""
        with self._lock:
            if self._lane is lane:
                self._lane = None
            self._abandoned.append(lane)
        lane.retire(self.service_timeout)

    @property
    def busy(self) -> bool:
        """An abandoned call still blocks the reader."""
        with self._lock:
            self._abandoned = [lane for lane in self._abandoned if lane.worker.busy]
            return bool(self._abandoned)

    def connect_card(self, ctx: OpContext | None = None) -> PcscCard | None:
        """A session with the card in the reader, or ``None`` when there is no card."""
        if self._hcontext is None:
            raise GtsdkError(ErrorCode.NO_DEVICE, "PC/SC reader not open")
        with self._lock:
            lane = self._lane = self._lane or _Lane()
        name = self.name
        try:
            got = lane.worker.call(lambda: lane.connect(name), io_timeout(self.service_timeout, ctx), ctx,
                                   "PC/SC connect")
        except GtsdkError as e:
            if lane.worker.busy:  # a connect that returns after its caller gave up is disconnected then
                self.abandon(lane)
            elif e.code == ErrorCode.NO_DEVICE:  # pcscd went away: its contexts are dead
                self.close()
            raise
        return None if got is None else PcscCard(self, lane, *got)

    def wait_card(self, ctx: OpContext, interval: float = 0.2, *,
                  absent: str = "no card presented before the deadline") -> PcscCard:
        """Wait for a card (checking every *interval* s); at the operation's deadline ``timeOut`` (*absent*).

        While an abandoned exchange still blocks the reader, no new session starts.
        """
        while True:
            ctx.check()
            if not self.busy:
                card = self.connect_card(ctx)
                if card is not None:
                    return card
            try:
                ctx.sleep(interval)
            except GtsdkError as e:
                if e.code == ErrorCode.TIME_OUT:
                    what = "the reader is still busy with a command the card never answered" if self.busy else absent
                    raise GtsdkError(ErrorCode.TIME_OUT, what) from None
                raise
