"""The checks that run over the whole tree are configured to reach all of it (issue #14 item 7).

mypy sees drivers/, simulators/ and conformance/ under their installed names through typecheck/gtsdk/
(see typecheck/README.md); these tests fail when a folder is namespaced in setup.py but not linked there or
not listed in ``[tool.mypy] packages``.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def namespaced() -> dict[str, str]:
    """setup.py's NAMESPACED mapping (folder → installed package), read without running setup.py."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "NAMESPACED"
                                                for t in node.targets):
            value = ast.literal_eval(node.value)
            assert isinstance(value, dict)
            return {str(k): str(v) for k, v in value.items()}
    raise AssertionError("setup.py has no NAMESPACED mapping")


def mypy_config() -> dict[str, object]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert isinstance(config, dict)
    return config


def test_every_namespaced_folder_is_linked_for_mypy() -> None:
    paths = mypy_config()["mypy_path"]
    assert isinstance(paths, list) and paths[0] == "typecheck"
    for folder, package in namespaced().items():
        link = REPO.joinpath("typecheck", *package.split("."))
        assert link.is_symlink(), f"{link.relative_to(REPO)} is missing"
        assert link.resolve() == (REPO / folder).resolve()


def test_mypy_checks_every_package_and_the_code_around_them() -> None:
    config = mypy_config()
    files = config["files"]
    assert isinstance(files, list) and config["explicit_package_bases"] is True
    links = {"typecheck/" + package.replace(".", "/") for package in namespaced().values()}
    assert {"gtsdk", *links, "tests", "benchmarks", "examples/python", "scripts"} <= set(files)
    assert not set(namespaced()) & set(files), "drivers/ would be checked as a top-level package named drivers"


def test_the_files_not_yet_under_mypy_exist() -> None:
    """A name left in the not-yet list after its file went away would hide the next file of that name."""
    pending = [o for o in tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
               ["overrides"] if o.get("ignore_errors")]
    assert len(pending) == 1
    for name in pending[0]["module"]:
        if "." in name:
            assert (REPO / (name.replace(".", "/") + ".py")).exists(), name
        else:  # a test module, in its area folder (tests/<area>/)
            assert list((REPO / "tests").glob(f"**/{name}.py")), name


#: the rules whose exceptions must say why (docs/contributing.md)
JUSTIFIED = ("BLE001", "S110", "C901")
NOQA = re.compile(r"#\s*noqa:\s*([A-Z0-9, ]+?)(?:\s+-\s+(\S.*))?$")


def test_every_exception_to_the_catch_and_complexity_rules_says_why() -> None:
    missing = []
    for folder in ("gtsdk", "drivers", "simulators", "conformance", "tests", "benchmarks", "scripts", "examples"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                m = NOQA.search(line)
                if m and any(code in m.group(1) for code in JUSTIFIED) and not m.group(2):
                    missing.append(f"{path.relative_to(REPO)}:{n}")
    assert not missing, f"'# noqa: <code> - <why>' without the why: {missing}"


def test_the_rules_are_selected() -> None:
    lint = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]["lint"]
    assert {"BLE", "S110", "C90"} <= set(lint["select"])
    assert lint["mccabe"]["max-complexity"] == 15



#: folders whose code runs in a terminal, a platform or a simulator host (tests may inspect ``exc_info``)
PRODUCT = ("gtsdk", "drivers", "simulators", "conformance", "benchmarks", "scripts", "examples")
_LOGGERS = re.compile(r"^_?(log|logger|logging|LOG|LOGGER)$")


def _logs_an_exception_text(node: ast.Call) -> bool:
    """``log.exception(...)`` (not ``future.exception(timeout)``), or any call given ``exc_info=``/``stack_info``."""
    if any(k.arg in ("exc_info", "stack_info") for k in node.keywords):
        return True
    f = node.func
    if not isinstance(f, ast.Attribute) or f.attr != "exception":
        return False
    receiver = f.value.attr if isinstance(f.value, ast.Attribute) else getattr(f.value, "id", "")
    first_is_text = bool(node.args) and isinstance(node.args[0], (ast.Constant, ast.JoinedStr)) and (
        not isinstance(node.args[0], ast.Constant) or isinstance(node.args[0].value, str))
    return bool(_LOGGERS.match(receiver)) or first_is_text


def test_no_exception_text_is_logged() -> None:
    """A logged traceback prints the exception's text, and a driver's message may hold an ID number: log what
    was swallowed by type and place (gtsdk.failures.swallowed / carrying_on), never ``log.exception`` or
    ``exc_info=`` (docs/contributing.md, "Catching exceptions")."""
    found = []
    for folder in PRODUCT:
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found += [f"{path.relative_to(REPO)}:{n.lineno}" for n in ast.walk(tree)
                      if isinstance(n, ast.Call) and _logs_an_exception_text(n)]
    assert not found, f"exception text logged (use gtsdk.failures.swallowed): {found}"


def test_the_exception_text_check_catches_what_it_bans() -> None:
    def calls(src: str) -> list[bool]:
        return [any(_logs_an_exception_text(n) for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call))]

    assert calls("log.exception('x')") == [True]
    assert calls("self.log.exception('x %s', a)") == [True]
    assert calls("logging.exception(msg)") == [True]
    assert calls("log.error('x', exc_info=True)") == [True]
    assert calls("whatever.warning(f'{a}', stack_info=True)") == [True]
    assert calls("job.future.exception()") == [False]
    assert calls("src.exception(0)") == [False]
    assert calls("log.warning('%s raised %s', what, type(e).__name__)") == [False]


def test_the_version_is_written_once() -> None:
    import importlib.metadata

    import gtsdk
    from gtsdk._version import __version__

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert gtsdk.__version__ == __version__ == importlib.metadata.version("gtsdk")
    # the kiosk pages' SDK is a static file: its constant must follow
    js = (REPO / "gtsdk" / "server" / "static" / "gtsdk.js").read_text(encoding="utf-8")
    assert f'export const VERSION = "{__version__}";' in js
    assert f"## [{__version__}]" in (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
