"""An app and a driver type-checked with ``mypy --strict`` (issue #14, "Done when"): correct use passes, in
process and over HTTPS, sync and async; a misspelt module, operation, argument or result field each fail. The
example scripts, the driver guide's driver, the hello plugin and every scaffolded driver pass too."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_driver_doc import doc_driver_source

from gtsdk import scaffold
from gtsdk.modules import MODULES

REPO = Path(__file__).resolve().parents[2]

CORRECT = '''
from __future__ import annotations

from typing import assert_type

from pydantic import Field

from gtsdk import Terminal, simulated_terminal
from gtsdk.client import AsyncClient, Client, SealedData, open_sealed
from gtsdk.crypto import SM2PrivateKey
from gtsdk.driver import DriverSettings, Model, OpContext, OperationSpec
from gtsdk.modules import Status
from gtsdk.modules.idcard import IdCardData, ReadRequest
from gtsdk.modules.imaging import ImageResult, OutputFormat, Rect
from gtsdk.modules.lights import FlashRequest, LightRequest, Lights, LightsDriver
from gtsdk.modules.receipt_printer import Align, Feed, QrCode, Text


def in_process() -> str:
    with Terminal.from_config("terminal.toml") as t:
        card = t.idcard.read(with_appended_address=True, timeout=20)
        assert_type(card, IdCardData)
        assert_type(t.idcard.status(), Status)
        assert_type(t.lights.flash(light="idcard", period=0.5, duty=0.5), Lights)
        assert_type(t.module("idcard").call("read"), Model)
        assert_type(t.module("idcard").call(OperationSpec("read", ReadRequest, IdCardData)), IdCardData)
        # contract models built by hand type-check too (defaults are seen without the pydantic plugin)
        t.receipt_printer.print(elements=[Text(text="受理编号", align=Align.CENTER, bold=True), QrCode(data="x"),
                                          Feed(lines=2)], cut=True)
        crop = t.imaging.crop(image=b"...", rect=Rect(x=0, y=0, width=10, height=10), format=OutputFormat.PNG)
        assert_type(crop, ImageResult)
        assert_type(t.imaging.crop(image=b"...", format="png").width, int)
    with simulated_terminal(modules=["idcard"]) as s:
        s.simulations["idcard"].control("insert", {"card": "resident"})
        return s.idcard.read(timeout=20).name


async def in_process_async(t: Terminal) -> str:
    card = await t.aio.idcard.read(timeout=20)
    again = await t.idcard.aio.read()
    assert_type(again, IdCardData)
    return card.id_number


def over_https(key: SM2PrivateKey) -> str:
    with Client(token="gts_x") as c:
        card = c.idcard.read(timeout=20)
        sealed = c.idcard.read_sealed(timeout=20)
        assert_type(sealed, SealedData)
        opened = open_sealed(sealed, key, IdCardData)
        assert_type(opened, IdCardData)
        return card.name + opened.name


async def over_https_async() -> str:
    async with AsyncClient(token="gts_x") as c:
        card = await c.idcard.read(timeout=20)
        assert_type(await c.lights.on(light="a"), Lights)
        return card.name


class AcmeSettings(DriverSettings):
    port: str = Field(description="serial port")


class AcmeLights(LightsDriver[AcmeSettings]):
    name = "acme"

    def connect(self) -> None:
        assert_type(self.settings, AcmeSettings)
        self.port = self.settings.port

    def disconnect(self) -> None:
        pass

    def on(self, request: LightRequest, ctx: OpContext) -> Lights:
        return Lights(states={request.light: "on"})

    def flash(self, request: FlashRequest, ctx: OpContext) -> Lights:
        return Lights(states={request.light: "flash"})

    def off(self, request: LightRequest, ctx: OpContext) -> Lights:
        return Lights(states={request.light: "off"})
'''

#: (name, the line that must fail, the error code mypy must give) — each a misuse of one kind
BROKEN = [
    ("module_in_process", 't.idcrad.read(timeout=20)', "attr-defined"),
    ("module_over_https", 'c.idcrad.read(timeout=20)', "attr-defined"),
    ("module_async", 'await ac.idcrad.read()', "attr-defined"),
    ("operation", 't.idcard.raed(timeout=20)', "attr-defined"),
    ("operation_async", 'await t.aio.idcard.raed()', "attr-defined"),
    ("argument", 't.idcard.read(with_fingerprnt=True)', "call-arg"),
    ("argument_over_https", 'c.lights.flash(light="a", period_ms=500)', "call-arg"),
    ("argument_type", 't.idcard.read(timeout="20")', "arg-type"),
    ("enum_value", 't.imaging.crop(image=b"", format="gif")', "arg-type"),
    ("result_field", 'print(t.idcard.read().nmae)', "attr-defined"),
    ("result_field_over_https", 'print(c.idcard.read().id_numbr)', "attr-defined"),
    ("result_field_async", 'print((await ac.idcard.read()).nmae)', "attr-defined"),
    ("sealed_is_not_the_card", 'print(c.idcard.read_sealed().name)', "attr-defined"),
    ("no_sealing_in_process", 't.idcard.read_sealed()', "attr-defined"),
    ("driver_settings", 'print(d.settings.prot)', "attr-defined"),
]

BROKEN_TEMPLATE = '''
from __future__ import annotations

from gtsdk import Terminal
from gtsdk.client import AsyncClient, Client
from gtsdk.driver import DriverSettings
from gtsdk.modules.lights import LightsDriver


class AcmeSettings(DriverSettings):
    port: str


class AcmeLights(LightsDriver[AcmeSettings]):  # abstract: never instantiated at run time
    pass


async def app(t: Terminal, c: Client, ac: AsyncClient, d: AcmeLights) -> None:
    {line}  # MISUSE
'''


@pytest.fixture(scope="module")
def mypy_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """One mypy --strict run over the correct app and every misuse; its error lines per file."""
    base = tmp_path_factory.mktemp("typed-app")
    (base / "app_correct.py").write_text(textwrap.dedent(CORRECT), encoding="utf-8")
    for name, line, _code in BROKEN:
        (base / f"app_{name}.py").write_text(BROKEN_TEMPLATE.format(line=line), encoding="utf-8")
    # drivers as vendors write them: the guide's example, the hello plugin, what the scaffold generates
    (base / "app_doc_driver.py").write_text(doc_driver_source(), encoding="utf-8")
    (base / "app_hello_plugin.py").write_text(
        (REPO / "examples" / "hello_plugin" / "hello_lights" / "driver.py").read_text(encoding="utf-8"))
    for mod_id in MODULES:
        files = scaffold.render(mod_id, "acme")
        (base / f"app_scaffold_{mod_id}.py").write_text(files[f"acme_{mod_id}/driver.py"], encoding="utf-8")
    ini = base / "mypy.ini"  # an app's plain set-up: no pydantic plugin; pyserial has no type stubs
    ini.write_text("[mypy]\nstrict = True\n[mypy-serial.*]\nignore_missing_imports = True\n", encoding="utf-8")
    # mypy's incremental cache outlives the run (gitignored, beside the project's own): gtsdk and its
    # dependencies are analysed once, later runs re-check what changed and the apps (new paths each run)
    cache = REPO / ".mypy_cache" / "typed-app"
    r = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ini), "--cache-dir", str(cache),
                        "--no-error-summary", "--show-error-codes", *sorted(str(p) for p in base.glob("app_*.py")),
                        *sorted(str(p) for p in (REPO / "examples" / "python").glob("*.py"))],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    out: dict[str, list[str]] = {}
    for ln in r.stdout.splitlines():
        m = re.match(r"(.*?)\.py:\d+: error: (.*)", ln)
        if m:
            name = Path(m.group(1)).name
            key = name if name.startswith("app_") else "examples" if "examples" in m.group(1) else "gtsdk"
            out.setdefault(key, []).append(ln)
    return out


def test_correct_use_passes_strict(mypy_run: dict[str, list[str]]) -> None:
    assert mypy_run.get("app_correct", []) == []
    drivers = ["app_doc_driver", "app_hello_plugin", *(f"app_scaffold_{m}" for m in MODULES)]
    assert {d: mypy_run[d] for d in drivers if d in mypy_run} == {}
    assert mypy_run.get("gtsdk", []) == []  # nor anything of gtsdk an app reaches, without the pydantic plugin
    assert mypy_run.get("examples", []) == []  # examples/python use the typed API as documented


@pytest.mark.parametrize("name, line, code", BROKEN, ids=[b[0] for b in BROKEN])
def test_each_misuse_fails_type_checking(mypy_run: dict[str, list[str]], name: str, line: str, code: str) -> None:
    errors = mypy_run.get(f"app_{name}", [])
    assert errors, f"mypy --strict accepted: {line}"
    assert all(f"[{code}]" in e for e in errors), errors
