"""8.4 f) A4 彩色打印机 — A4 colour printer: print, plus job and printer status."""

from __future__ import annotations

import abc
from enum import StrEnum

from pydantic import Field

from gtsdk.modules._base import Driver, Model, ModuleSpec, OpContext, OperationSpec, Request, SettingsT, operations


class DocumentFormat(StrEnum):
    PDF = "pdf"
    PNG = "png"
    JPEG = "jpeg"
    TEXT = "text"


class Sides(StrEnum):
    ONE_SIDED = "one-sided"
    LONG_EDGE = "two-sided-long-edge"
    SHORT_EDGE = "two-sided-short-edge"


class JobState(StrEnum):
    PENDING = "pending"
    HELD = "held"
    PROCESSING = "processing"
    STOPPED = "stopped"
    CANCELED = "canceled"
    ABORTED = "aborted"
    COMPLETED = "completed"


class PrintRequest(Request):
    document: bytes = Field(description="the file (base64 on the wire)")
    format: DocumentFormat = DocumentFormat.PDF
    copies: int = Field(default=1, ge=1, le=99)
    sides: Sides = Sides.ONE_SIDED
    color: bool = True
    media: str = Field(default="A4", max_length=32)
    title: str = Field(default="gtsdk", max_length=100)
    wait: bool = Field(default=False,
                       description="wait until the job ends (or the printer reports a fault) before answering")


class JobRequest(Request):
    job_id: int = Field(ge=1)


class Job(Model):
    job_id: int
    state: JobState
    reasons: list[str] = Field(default_factory=list, description="IPP job-state-reasons")
    printer_reasons: list[str] = Field(default_factory=list, description="IPP printer-state-reasons seen for the job")
    error: str | None = Field(default=None,
                              description="catalogue code when the job failed or is held up by the printer")


class A4PrinterDriver(Driver[SettingsT], abc.ABC):
    module = "a4_printer"

    @abc.abstractmethod
    def print(self, request: PrintRequest, ctx: OpContext) -> Job: ...

    @abc.abstractmethod
    def job_status(self, request: JobRequest, ctx: OpContext) -> Job: ...

    @abc.abstractmethod
    def cancel_job(self, request: JobRequest, ctx: OpContext) -> Job: ...


SPEC = ModuleSpec(
    id="a4_printer",
    clause="8.4 f)",
    title_zh="A4 彩色打印机",
    title_en="A4 colour printer",
    driver_class=A4PrinterDriver,
    operations=operations(
        OperationSpec("print", PrintRequest, Job, summary="打印文件", needs_open=False),
        OperationSpec("job_status", JobRequest, Job, summary="获取打印任务状态", needs_open=False),
        OperationSpec("cancel_job", JobRequest, Job, summary="取消打印任务", needs_open=False),
    ),
    events=("jobCompleted", "jobStateChanged", "printerStatusChanged"),
)
