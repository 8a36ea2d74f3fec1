"""Execute the numbered notebooks in order and write a reproducible HTML report.

``posekit report`` (or ``make run``) writes, under :func:`posekit.paths.reports_dir`:
``notebooks/<name>.ipynb`` (executed), ``<name>.html`` (self-contained, plotly included)
and ``index.html`` (what ran, how long it took, whether it passed).
Quick mode (the default) sets ``POSEKIT_QUICK=1``: notebooks shorten their long steps.
"""
from __future__ import annotations

import html
import os
import time
from dataclasses import dataclass
from pathlib import Path

from posekit.paths import repo_root, reports_dir

__all__ = ["NotebookRun", "notebook_paths", "run_notebook", "build_report", "is_quick"]


def is_quick() -> bool:
    """True when notebooks should take their quick path (``POSEKIT_QUICK=1``, the report default)."""
    return os.environ.get("POSEKIT_QUICK", "0") not in ("", "0", "false", "False")


@dataclass(frozen=True)
class NotebookRun:
    """Outcome of executing one notebook."""

    name: str
    seconds: float
    ok: bool
    error: str
    html_path: Path
    ipynb_path: Path


def notebook_paths(folder: Path | None = None) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``) in execution order."""
    folder = folder or repo_root() / "notebooks"
    paths = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {folder}")
    return paths


def run_notebook(path: Path, out_dir: Path, quick: bool = True, timeout: int = 1800) -> NotebookRun:
    """Execute ``path`` (working directory: its folder) and export it to ``out_dir``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    os.environ["POSEKIT_QUICK"] = "1" if quick else "0"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start, error = time.time(), ""
    try:
        client.execute()
    except CellExecutionError as err:
        error = str(err).strip().splitlines()[-1] if str(err).strip() else repr(err)
    seconds = time.time() - start
    (out_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    ipynb_path = out_dir / "notebooks" / path.name
    nbformat.write(nb, ipynb_path)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    html_path = out_dir / f"{path.stem}.html"
    html_path.write_text(body, encoding="utf-8")
    return NotebookRun(path.stem, seconds, not error, error, html_path, ipynb_path)


def build_report(quick: bool = True, notebooks: list[str] | None = None, timeout: int = 1800) -> Path:
    """Run the notebooks in order, write the report; raises RuntimeError if any notebook failed."""
    out_dir = reports_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in notebooks] if notebooks else notebook_paths()
    runs = []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        run = run_notebook(path, out_dir, quick=quick, timeout=timeout)
        print(f"  {'ok' if run.ok else 'FAILED'} in {run.seconds:.0f} s{'' if run.ok else ': ' + run.error}", flush=True)
        runs.append(run)
    rows = "\n".join(
        f"<tr><td><a href='{html.escape(r.html_path.name)}'>{html.escape(r.name)}</a></td>"
        f"<td>{'ok' if r.ok else 'FAILED'}</td><td>{r.seconds:.0f}</td><td>{html.escape(r.error)}</td></tr>"
        for r in runs
    )
    index = out_dir / "index.html"
    index.write_text(
        "<!doctype html><meta charset='utf-8'><title>posekit report</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 12px;text-align:left}</style>"
        f"<h1>posekit report</h1><p>mode: {'quick' if quick else 'full'}; generated {time.strftime('%Y-%m-%d %H:%M:%S')}</p>"
        f"<table><tr><th>notebook</th><th>status</th><th>seconds</th><th>error</th></tr>{rows}</table>",
        encoding="utf-8",
    )
    failed = [r.name for r in runs if not r.ok]
    if failed:
        raise RuntimeError(f"notebooks failed: {', '.join(failed)}; see {index}")
    return index
