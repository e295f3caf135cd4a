"""The architecture as a test: the layers of DESIGN.md hold, jobs/ stands alone, and imports run at the top.

The contracts are import-linter's, in pyproject.toml (``make lint`` runs them too): a module imports only
from the layers below it. Importing inside a function is allowed only for an optional heavy dependency
loaded on purpose, and the line above (or the line itself) says so with "on demand".
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from console import checklist
from console.settings import CHECKLIST_CHECKS

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_linter_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--config", "pyproject.toml", "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def _imports_inside_functions(path: Path) -> list[tuple[int, str, bool]]:
    """(line, statement, commented) for each import inside a function of ``path``."""
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    start = inner.lineno - 1
                    while start > 0 and lines[start - 1].strip().startswith(("#", "from ", "import ")):
                        start -= 1  # the comment may head a block of imports, or span lines
                    commented = any("on demand" in text for text in lines[start:inner.lineno])
                    found.append((inner.lineno, ast.unparse(inner), commented))
    return found


def test_imports_inside_functions_are_heavy_dependencies_said_so() -> None:
    unexplained = [f"{path.relative_to(ROOT)}:{line}: {statement}"
                   for folder in ("console", "jobs") for path in sorted((ROOT / folder).rglob("*.py"))
                   for line, statement, commented in _imports_inside_functions(path) if not commented]
    assert unexplained == []


def test_the_checklist_implements_exactly_the_checks_settings_accept() -> None:
    assert set(checklist.CHECKS) == set(CHECKLIST_CHECKS)
