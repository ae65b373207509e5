"""The terminal runtime: config, drivers, per-device queues, events, statistics."""

from gtsdk.runtime.config import ModuleConfig, TerminalConfig, load_config, parse_config
from gtsdk.runtime.device import Device, Job, OperationRecord, parse_request
from gtsdk.runtime.events import Event, EventBus
from gtsdk.runtime.terminal import AsyncTerminal, Terminal

__all__ = [
    "AsyncTerminal",
    "Device",
    "Event",
    "EventBus",
    "Job",
    "ModuleConfig",
    "OperationRecord",
    "Terminal",
    "TerminalConfig",
    "load_config",
    "parse_config",
    "parse_request",
]
