"""Bridge mapping files: malformed ones give an error naming file, line, column and key; generated ones
never crash the loader (only the documented MappingError / ConfigError); values and prototypes."""

from __future__ import annotations

import base64
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from _bridge_fixtures import HTTP_MAPPING, NATIVE_MAPPING, native_sim  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtsdk.drivers.bridge_common import values, yamlpos
from gtsdk.drivers.bridge_common.mapping import FieldSpec, MappingError
from gtsdk.drivers.http_bridge import mapping as http_mapping
from gtsdk.drivers.native_bridge import cdecl
from gtsdk.drivers.native_bridge import mapping as native_mapping
from gtsdk.errors import ConfigError

NATIVE_TEXT = NATIVE_MAPPING.read_text(encoding="utf-8")
HTTP_TEXT = HTTP_MAPPING.read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def native_error(text: str) -> MappingError:
    with pytest.raises(MappingError) as ei:
        native_mapping.loads(text, "acme.yaml")
    return ei.value


def test_the_shipped_examples_load() -> None:
    for path in sorted(NATIVE_MAPPING.parent.glob("*.yaml")):
        kind = yaml.safe_load(path.read_text(encoding="utf-8"))["bridge"]
        m = (native_mapping if kind == "native" else http_mapping).load(path)
        assert m.module in ("idcard", "lights")


@pytest.mark.parametrize(("old", "new", "key", "words"), [
    ("      - call: Read_Content\n", "      - call: Read_Contnet\n", "operations.read.steps[1].call",
     "no function 'Read_Contnet'"),
    ("        wait_while: [0]", "        wait_whlie: [0]", "operations.read.steps[0].wait_whlie", "unknown key"),
    ("  Read_Content: int Read_Content(int active)", "  Read_Content: int Read_Content(out int active)",
     "functions.Read_Content", "must be a pointer"),
    ("      birth_date: {from: file.text, line: 3, date: \"%Y%m%d\"}",
     "      birthday: {from: file.text, line: 3, date: \"%Y%m%d\"}", "operations.read.result.birthday",
     "IdCardData has no field 'birthday'"),
    ("  -2: {code: noDevice, detail: \"reader lost\"}", "  -2: {code: readerLost}", "codes.-2.code",
     "not a catalogue error code"),
    ("        with: {active: 2}", "        with: {activ: 2}", "operations.read.steps[1].with.activ",
     "no input parameter 'activ'"),
    ("      name: {from: file.text, line: 0}", "      name: {from: file.txt, line: 0}",
     "operations.read.result.name.from", "unknown source 'file.txt'"),
    ("  on_present: cardInserted", "  on_present: cardIn", "events.on_present", "no event 'cardIn'"),
    ("    with: {port: \"${param.port}\"}", "    with: {port: \"${param.prot}\"}", "connect[0].with.port",
     "no param named 'prot'"),
    ("      sex_code: {from: file.text, line: 1, map: {\"男\": \"1\", \"女\": \"2\"}, otherwise: \"9\"}",
     "      sex_code: {from: file.text, line: 1, encoding: gb2313}", "operations.read.result.sex_code",
     "unknown text encoding"),
])
def test_a_malformed_mapping_names_file_line_and_key(old: str, new: str, key: str, words: str) -> None:
    assert old in NATIVE_TEXT
    text = NATIVE_TEXT.replace(old, new, 1)
    e = native_error(text)
    assert e.key == key, e.detail
    assert words in e.problem, e.detail
    assert e.line == line_of(text, new.strip()), e.detail
    assert e.detail.startswith(f"acme.yaml:{e.line}:{e.column}: {key}: ")
    assert isinstance(e, ConfigError) and e.code == "configError"


def test_a_missing_result_field_and_a_missing_operation_are_named() -> None:
    text = NATIVE_TEXT.replace("      id_number: {from: file.text, line: 5}\n", "")
    e = native_error(text)
    assert e.key == "operations.read.result" and "id_number" in e.problem
    assert e.line == line_of(text, "    result:")
    start = NATIVE_TEXT.index("operations:\n") + len("operations:\n")
    end = NATIVE_TEXT.index("\nevents:")
    e = native_error(NATIVE_TEXT[:start] + "  open: {steps: []}\n" + NATIVE_TEXT[end:])
    assert e.key == "operations" and "missing read" in e.problem


def test_yaml_problems_have_positions() -> None:
    e = native_error(NATIVE_TEXT.replace("module: idcard", "module: idcard\nmodule: lights"))
    assert e.key == "module" and "duplicate key" in e.problem and e.line == line_of(NATIVE_TEXT, "module:") + 1
    e = native_error(NATIVE_TEXT.replace("  call_timeout: 3", "  call_timeout: [3"))
    assert "not valid YAML" in e.problem
    e = native_error("mapping: 1\nx: &a [1]\ny: *a\n")
    assert "anchors and aliases" in e.problem and e.line == 3
    e = native_error("mapping: 2\n")
    assert e.key == "mapping" and e.line == 1
    e = native_error("- a\n- b\n")
    assert "YAML mapping" in e.problem


def test_module_must_match_the_configured_module(tmp_path: Path, native_sim: Any) -> None:  # noqa: F811
    from gtsdk.runtime import Terminal, parse_config

    cfg = parse_config({"modules": {"qr_scanner": {"driver": "native_bridge", **native_sim.settings}}})
    with pytest.raises(ConfigError) as ei:
        Terminal(cfg, strict=True)
    assert "maps module 'idcard', not 'qr_scanner'" in ei.value.detail
    cfg = parse_config({"modules": {"idcard": {"driver": "native_bridge", "mapping": str(NATIVE_MAPPING),
                                               "params": {"prot": 1}}}})
    with pytest.raises(ConfigError) as ei:
        Terminal(cfg, strict=True)
    assert ei.value.key == "modules.idcard.params.prot"


def test_http_mapping_keeps_the_middleware_local() -> None:
    text = HTTP_TEXT.replace("http://127.0.0.1:${param.port}", "http://10.1.2.3:8080")
    with pytest.raises(MappingError) as ei:
        http_mapping.loads(text, "hub.yaml")
    assert ei.value.key == "middleware" and "not this machine" in ei.value.problem
    assert ei.value.line == line_of(text, "middleware:")


# ---- generated documents never crash the loader ----------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False),
                    st.text(max_size=20))
keys = st.sampled_from(["mapping", "bridge", "module", "library", "functions", "operations", "read", "steps",
                        "call", "with", "ok", "result", "name", "from", "events", "codes", "params", "path",
                        "wait_while", "save", "files", "connect", "encoding", "slice", "date", "map", "x"])
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(keys, inner, max_size=5)), max_leaves=30)


def _load_quietly(text: str) -> None:
    for loader in (native_mapping.loads, http_mapping.loads):
        try:
            loader(text, "gen.yaml")
        except ConfigError as e:  # MappingError is a ConfigError; nothing else may escape
            assert e.detail


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_generated_documents_never_crash_the_loader(doc: Any) -> None:
    _load_quietly(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_examples_never_crash_the_loader(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from([NATIVE_TEXT, HTTP_TEXT]))
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        how = data.draw(st.sampled_from(["drop", "dup", "cut", "junk", "indent"]))
        if how == "drop":
            del lines[i]
        elif how == "dup":
            lines.insert(i, lines[i])
        elif how == "cut":
            lines[i] = lines[i][: data.draw(st.integers(0, max(0, len(lines[i]))))]
        elif how == "junk":
            lines[i] += data.draw(st.text(max_size=8))
        else:
            lines[i] = " " + lines[i]
        if not lines:
            break
    _load_quietly("\n".join(lines))


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_any_text_is_parsed_or_refused_with_a_position(text: str) -> None:
    try:
        doc = yamlpos.parse(text)
    except yamlpos.YamlProblem as e:
        assert e.line >= 1 and e.column >= 1
        return
    assert () in doc.marks


def test_scalars_follow_the_documented_rules() -> None:
    doc = yamlpos.parse("a: 0000\nb: 12\nc: 0x1F\nd: yes\ne: true\nf: ~\ng: 2024-01-01\nh: '12'\ni: -1\nj: 1.5\n")
    assert doc.data == {"a": "0000", "b": 12, "c": 31, "d": "yes", "e": True, "f": None, "g": "2024-01-01",
                        "h": "12", "i": -1, "j": 1.5}
    assert doc.marks[("g",)] == (7, 1)


# ---- values ---------------------------------------------------------------------------------------------------
def convert(spec: dict[str, Any], raw: Any, *, wants_bytes: bool = False, lengths: dict[str, Any] | None = None,
            ) -> Any:
    return values.convert(FieldSpec.model_validate(spec), raw, field="f", lengths=lengths or {},
                          wants_bytes=wants_bytes, default_encoding="gb18030")


def test_field_conversions() -> None:
    block = "张示例".ljust(15).encode("utf-16-le") + "1".encode("utf-16-le") + "长期      ".encode("utf-16-le")
    assert convert({"from": "x", "slice": [0, 30], "encoding": "utf-16-le"}, block) == "张示例"
    assert convert({"from": "x", "slice": [30, 2], "encoding": "utf-16-le", "map": {"1": "男"}}, block) == "男"
    assert convert({"from": "x", "slice": [32, 16], "encoding": "utf-16-le", "date": "%Y%m%d",
                    "map": {"长期": None}}, block) is None
    gb = "北京市\r\n19900307\r\n".encode("gb18030")
    assert convert({"from": "x", "line": 0}, gb) == "北京市"
    assert convert({"from": "x", "line": 1, "date": "%Y%m%d"}, gb) == date(1990, 3, 7)
    assert convert({"from": "x", "length_from": "n"}, b"AB\x00junk", lengths={"n": 2}) == "AB"
    assert convert({"from": "x"}, b"name\x00\x00\x00") == "name"
    assert convert({"from": "x", "base64": True}, base64.b64encode(b"\x00\x01").decode(), wants_bytes=True) == b"\0\1"
    assert convert({"from": "x", "path": "$.data['a b'][1]"}, {"data": {"a b": [0, "v"]}}) == "v"
    assert convert({"from": "x", "map": {"Y": True}, "otherwise": False}, "N") is False
    refused: list[tuple[dict[str, Any], object, str]] = [
        ({"from": "x", "date": "%Y%m%d"}, "1990-03-07", "not a date"),
        ({"from": "x", "slice": [0, 10]}, b"abc", "runs past"),
        ({"from": "x", "base64": True}, "@@", "not valid base64"),
        ({"from": "x", "encoding": "utf-16-le"}, b"\x00\xd8", "not valid utf-16-le")]
    for spec, raw, problem in refused:
        with pytest.raises(Exception) as ei:
            convert(spec, raw)
        assert problem in str(ei.value)
        assert "1990" not in str(ei.value)  # the value itself is never in the error


@given(st.recursive(st.one_of(st.integers(), st.text(max_size=5)),
                    lambda inner: st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True), inner,
                                                  max_size=3), max_leaves=10),
       st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True), max_size=4))
def test_json_path_finds_what_is_there(doc: Any, path: list[str]) -> None:
    expr = "$" + "".join(f".{p}" for p in path)
    assert values.check_json_path(expr) is None
    cur = doc
    try:
        for p in path:
            cur = cur[p]
    except (KeyError, TypeError):
        with pytest.raises(values.Missing):
            values.json_path(doc, expr)
        return
    assert values.json_path(doc, expr) == cur


def test_templates_keep_types_and_interpolate() -> None:
    scope = {"param.port": 1001, "request.flag": True, "workdir": "/w"}
    assert values.render("${param.port}", scope) == 1001
    assert values.render({"p": "COM${param.port}", "x": ["${request.flag}"]}, scope) == {"p": "COM1001", "x": [True]}
    with pytest.raises(values.Missing):
        values.render("${param.nope}", scope)


# ---- C prototypes ---------------------------------------------------------------------------------------------
def test_prototypes() -> None:
    p = cdecl.parse("int __stdcall GetPeopleName(out char name[128], inout int *len)")
    assert p.name == "GetPeopleName" and p.convention == "stdcall" and p.ret == "int32"
    assert p.params[0] == cdecl.Param("name", "int8", "out", 128, 1)
    assert p.params[1] == cdecl.Param("len", "int32", "inout")
    assert cdecl.parse("char *GetSAMID(void)").ret == "text"
    assert cdecl.parse("int Read_Content_Path(const char *path, int active)").params[0].kind == "text"
    assert cdecl.parse("DWORD f(WCHAR *w, out WORD buf[4])").params[1].element_size == 2
    for bad, words in [("int f(int *x)", "say 'out'"), ("int f(out void *p)", "no size"), ("f(int)", "not a C"),
                       ("int *f(void)", "cannot be read safely"), ("int f(int a, int a)", "repeat"),
                       ("int f(quux q)", "unknown C type")]:
        with pytest.raises(cdecl.PrototypeError, match=re.escape(words)):
            cdecl.parse(bad)


@given(st.text(max_size=80))
def test_any_prototype_text_is_parsed_or_refused(text: str) -> None:
    try:
        cdecl.parse(text)
    except cdecl.PrototypeError:
        pass
