"""The wheel's dependency set on a Databricks cluster: distributions and installed MB, before and after the
split into extras.

    .venv/bin/python bench/bench_wheel_deps.py

Resolves each set's closure from the metadata of this environment's installed distributions (markers and
extras evaluated for this interpreter) and adds up the files each one's RECORD lists. "before" is the base
``dependencies`` of the wheel as it was at commit 2845541 (what a whl library pulled onto the cluster);
"lock" is everything in requirements.txt; "jobs" is the wheel's base ``dependencies`` now.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
BEFORE = ["streamlit==1.67.0", "snowflake-snowpark-python[pandas]==1.56.0", "fakesnow[server]==0.12.1",
          "databricks-sdk==0.162.0", "plotly==7.1.0", "pandas==2.3.3", "apscheduler==3.11.3", "SQLAlchemy==2.1.9",
          "PyYAML==6.0.4"]


def closure(requirements: list[str]) -> dict[str, metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    queue = [(Requirement(r), "") for r in requirements]
    env = default_environment()
    while queue:
        req, extra = queue.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"{req.name} is not installed here: run `make test` (it installs the lock) first.") \
                from None
        first = name not in found
        found[name] = dist
        for wanted in ([""] if first else []) + sorted(req.extras):
            for text in dist.requires or []:
                sub = Requirement(text)
                if wanted and (sub.marker is None or f'extra == "{wanted}"' not in str(sub.marker)):
                    continue
                if not wanted and sub.marker is not None and "extra ==" in str(sub.marker):
                    continue
                queue.append((sub, wanted))
    return found


def megabytes(dists: dict[str, metadata.Distribution]) -> float:
    total = 0
    for dist in dists.values():
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
    return total / 2**20


def main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = [line.split()[0] for line in (ROOT / "requirements.txt").read_text().splitlines()
            if re.match(r"^[A-Za-z0-9]", line)]
    sets = {"before (wheel deps at 2845541)": BEFORE, "lock (all of requirements.txt)": lock,
            "jobs (wheel deps now)": project["dependencies"]}
    print(f"{'set':34} {'distributions':>13} {'installed MB':>13}  heavy ones (MB)")
    for label, requirements in sets.items():
        dists = closure(requirements)
        sizes = sorted(((megabytes({n: d}), n) for n, d in dists.items()), reverse=True)[:5]
        heavy = ", ".join(f"{n} {mb:.0f}" for mb, n in sizes)
        print(f"{label:34} {len(dists):>13} {megabytes(dists):>13.1f}  {heavy}")
    jobs = set(closure(project["dependencies"]))
    for name in ("streamlit", "fakesnow", "databricks-sdk", "pytest", "playwright"):
        assert name not in jobs, f"{name} is in the cluster's dependency set"
    print("the cluster's set holds none of streamlit, fakesnow, databricks-sdk, pytest, playwright")


if __name__ == "__main__":
    main()
