"""The console's wheel, built from the repository as ``pip wheel`` builds it, cached by the sources' content.

The build runs in a copy of what the wheel is made of (``pyproject.toml``, ``console/``, ``jobs/``) so that it
leaves no ``build/`` or ``*.egg-info`` in the checkout; a wheel of the same sources is built once.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "console", "jobs")
_IGNORED = ("__pycache__", "*.pyc")


class WheelBuildError(RuntimeError):
    """``pip wheel`` or ``pip install --target`` failed; the message carries pip's last lines."""


def _files(repo: Path) -> list[Path]:
    found = []
    for name in SOURCES:
        path = repo / name
        if path.is_file():
            found.append(path)
        else:
            found.extend(p for p in sorted(path.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
                         and p.suffix != ".pyc")
    return found


def source_digest(repo: Path = ROOT) -> str:
    """A digest of every file the wheel is built from (names and contents)."""
    digest = hashlib.sha256()
    for path in _files(repo):
        digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _pip(args: list[str], what: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300,
                          check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise WheelBuildError(f"{what} failed (pip exit {done.returncode}):\n{tail}")


def build_wheel(cache_dir: Path, repo: Path = ROOT) -> Path:
    """The wheel of ``repo``'s current sources: ``cache_dir/<digest>/outbound_ops_console-*.whl``."""
    target = cache_dir / source_digest(repo)
    built = sorted(target.glob("*.whl"))
    if built:
        return built[0]
    with tempfile.TemporaryDirectory(prefix="rehearsal-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in SOURCES:
            path = repo / name
            if path.is_file():
                shutil.copy2(path, src / name)
            else:
                shutil.copytree(path, src / name, ignore=shutil.ignore_patterns(*_IGNORED))
        out = Path(tmp) / "out"
        _pip(["wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(src)], "building the wheel")
        wheels = sorted(out.glob("*.whl"))
        if len(wheels) != 1:
            raise WheelBuildError(f"building the wheel gave {len(wheels)} wheel files in {out}; expected one.")
        target.mkdir(parents=True, exist_ok=True)
        final = target / wheels[0].name
        shutil.copy2(wheels[0], final)
    return final


def install_wheel(wheel: Path, target: Path) -> Path:
    """``pip install --no-deps --target target wheel`` (once per target); returns ``target``."""
    marker = target / ".installed"
    if marker.exists() and marker.read_text(encoding="utf-8") == wheel.name:
        return target
    if target.exists():
        shutil.rmtree(target)
    _pip(["install", "--no-deps", "--quiet", "--no-compile", "--target", str(target), str(wheel)],
         f"installing {wheel.name}")
    marker.write_text(wheel.name, encoding="utf-8")
    return target
