"""IPP/CUPS vocabulary ↔ gtsdk models: job options, job states, printer-state-reasons → catalogue codes.

Pure functions, no I/O.  Keywords are those of RFC 8011 (IPP/1.1 model):
``job-state`` enum 3..9 (§5.3.7), ``printer-state`` 3..5 (§5.4.11),
``printer-state-reasons`` keywords with ``-report``/``-warning``/``-error``
severity suffixes (§5.4.12), ``sides`` (§5.2.8), ``print-color-mode`` and
``media`` size names from PWG 5100.13 / PWG 5101.1.
"""

from __future__ import annotations

from gtsdk.errors import ErrorCode, GtsdkError
from gtsdk.modules.a4_printer import DocumentFormat, JobState, PrintRequest

#: RFC 8011 §5.3.7 job-state
JOB_STATES = {3: JobState.PENDING, 4: JobState.HELD, 5: JobState.PROCESSING, 6: JobState.STOPPED,
              7: JobState.CANCELED, 8: JobState.ABORTED, 9: JobState.COMPLETED}
FINAL = {JobState.CANCELED, JobState.ABORTED, JobState.COMPLETED}
#: RFC 8011 §5.4.11 printer-state
PRINTER_STATES = {3: "idle", 4: "processing", 5: "stopped"}

#: PWG 5101.1 self-describing media names
MEDIA = {"A4": "iso_a4_210x297mm", "A5": "iso_a5_148x210mm", "A3": "iso_a3_297x420mm",
         "LETTER": "na_letter_8.5x11in", "LEGAL": "na_legal_8.5x14in"}

MIME = {DocumentFormat.PDF: "application/pdf", DocumentFormat.PNG: "image/png", DocumentFormat.JPEG: "image/jpeg",
        DocumentFormat.TEXT: "application/pdf"}

#: printer-state-reasons keyword (severity suffix removed) → catalogue code, most serious first.
#: toner-low, media-low, marker-supply-low are warnings only (reported in status, no error).
REASON_CODES: list[tuple[tuple[str, ...], ErrorCode]] = [
    (("offline", "shutdown", "connecting-to-device", "timed-out"), ErrorCode.NO_DEVICE),
    (("media-jam", "jam"), ErrorCode.MEDIA_JAM),
    (("media-empty", "media-needed", "input-tray-missing"), ErrorCode.NO_MEDIA),
    (("toner-empty", "marker-supply-empty", "developer-empty", "ink-empty"), ErrorCode.CONSUMABLE_EMPTY),
    (("door-open", "cover-open", "interlock-open", "fuser-over-temp", "fuser-under-temp", "opc-life-over",
      "marker-waste-full", "output-area-full", "output-tray-missing"), ErrorCode.HARDWARE_ERROR),
]
WARNINGS = ("toner-low", "media-low", "marker-supply-low", "marker-waste-almost-full", "opc-near-eol",
            "developer-low", "output-area-almost-full")


def keyword(reason: str) -> str:
    """``media-empty-warning`` → ``media-empty`` (RFC 8011 §5.4.12 severity suffixes)."""
    for suffix in ("-report", "-warning", "-error"):
        if reason.endswith(suffix):
            return reason[: -len(suffix)]
    return reason


def severity(reason: str) -> str:
    """``error``, ``warning``, ``report`` or ``""`` (no suffix: RFC 8011 treats it as an error)."""
    for suffix in ("report", "warning", "error"):
        if reason.endswith("-" + suffix):
            return suffix
    return ""


def reasons_code(reasons: list[str], printer_state: int | None = None, message: str = "",
                 severities: tuple[str, ...] = ("", "error", "warning")) -> ErrorCode | None:
    """The catalogue code for what stops (or holds up) the printer, or None.

    Only reasons of the given *severities* count.  ``-report`` reasons are left
    out by default: a CUPS queue keeps the last reasons its printer reported
    while a job ran (e.g. ``media-jam-report`` after a failed job) and only
    refreshes them with the next job, so they are history, not state.
    CUPS' own ``cups-*`` reasons are ignored; a stopped queue with no printer
    reason is ``hardwareError``; CUPS' "may not exist or is unavailable" message
    (the ipp backend cannot reach the printer) is ``noDevice``.
    """
    keys = {keyword(r) for r in reasons
            if r and r != "none" and not r.startswith("cups-") and severity(r) in severities}
    for names, code in REASON_CODES:
        if keys & set(names):
            return code
    if "may not exist or is unavailable" in message or "unable to locate printer" in message.lower():
        return ErrorCode.NO_DEVICE
    if printer_state == 5:
        return ErrorCode.HARDWARE_ERROR
    return None


def status_code(reasons: list[str], printer_state: int | None = None, message: str = "") -> ErrorCode | None:
    """Code shown in status and events: faults at any severity but ``-report``, plus an empty consumable
    even as a report (printers such as ippeveprinter report ``toner-empty-report`` and keep printing)."""
    code = reasons_code(reasons, printer_state, message)
    if code is None and reasons_code(reasons, severities=("report",)) is ErrorCode.CONSUMABLE_EMPTY:
        return ErrorCode.CONSUMABLE_EMPTY
    return code


def warnings(reasons: list[str]) -> list[str]:
    return sorted({keyword(r) for r in reasons if keyword(r) in WARNINGS})


def media_name(media: str) -> str:
    m = MEDIA.get(media.upper())
    if m is not None:
        return m
    if "_" in media and media.replace("_", "").replace(".", "").replace("-", "").isalnum():
        return media  # already a PWG self-describing name
    raise GtsdkError(ErrorCode.UNSUPPORTED_DATA, f"unknown media {media!r}", field="media")


def job_options(req: PrintRequest) -> dict[str, str]:
    """IPP job template attributes as pycups ``printFile`` options (all strings)."""
    return {
        "copies": str(req.copies),
        "sides": req.sides.value,
        "print-color-mode": "color" if req.color else "monochrome",
        "media": media_name(req.media),
    }


def check_document(req: PrintRequest) -> None:
    """Refuse a document whose bytes do not match its declared format (``invalidData``)."""
    d = req.document
    if not d:
        raise GtsdkError(ErrorCode.INVALID_DATA, "empty document", field="document")
    if req.format is DocumentFormat.PDF and not d.lstrip()[:5] == b"%PDF-":
        raise GtsdkError(ErrorCode.INVALID_DATA, "document is not a PDF", field="document")
    if req.format is DocumentFormat.PNG and not d.startswith(b"\x89PNG\r\n\x1a\n"):
        raise GtsdkError(ErrorCode.INVALID_DATA, "document is not a PNG", field="document")
    if req.format is DocumentFormat.JPEG and not d.startswith(b"\xff\xd8"):
        raise GtsdkError(ErrorCode.INVALID_DATA, "document is not a JPEG", field="document")
    if req.format is DocumentFormat.TEXT:
        try:
            d.decode("utf-8")
        except UnicodeDecodeError:
            raise GtsdkError(ErrorCode.INVALID_DATA, "text is not UTF-8", field="document") from None
