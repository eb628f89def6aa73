"""Which package may import which: channels/ knows no provider; each provider knows channels/, not the others."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parents[3] / "callcenter"
PROVIDERS = ("sip", "twilio", "smpp")
FORBIDDEN = {
    "channels": {f"callcenter.{p}" for p in PROVIDERS},
    **{p: {f"callcenter.{other}" for other in PROVIDERS if other != p} for p in PROVIDERS},
}


def _imports(package: str) -> list[tuple[str, int, str]]:
    found = []
    for file in sorted((PACKAGES / package).rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [(file.name, node.lineno, name) for name in names]
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_no_forbidden_package(package: str) -> None:
    wrong = [f"{file}:{line} imports {name}" for file, line, name in _imports(package)
             if any(name == f or name.startswith(f"{f}.") for f in FORBIDDEN[package])]
    assert not wrong, wrong


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_provider_builds_on_channels(provider: str) -> None:
    assert any(name.startswith("callcenter.channels") for _, _, name in _imports(provider))
