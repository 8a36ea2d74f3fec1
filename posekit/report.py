"""Execute the numbered notebooks in order and write a reproducible HTML report.

``posekit report`` (or ``make run``) writes, under :func:`posekit.paths.reports_dir`:
``notebooks/<name>.ipynb`` (executed), ``<name>.html`` (plotly included) and ``index.html``
(what ran, how long it took, whether it passed), plus ``static/``: the widget renderer's
JavaScript (require.js, the Jupyter widget HTML manager, anywidget), so that widgets draw from
the saved state with no network (:func:`install_widget_js` fetches it once at set-up time).
Quick mode (the default) sets ``POSEKIT_QUICK=1``: notebooks shorten their long steps.
"""
from __future__ import annotations

import contextlib
import html
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from posekit.datasets import DatasetConfig, dataset_dir, default_workers, ensure_dataset
from posekit.files import atomic_path
from posekit.outputs import OutputFolder
from posekit.paths import repo_root, reports_dir, widget_js_dir

__all__ = ["NotebookRun", "notebook_paths", "run_notebook", "build_report", "prepare_datasets", "is_quick", "install_widget_js", "export_html",
           "PageCheck", "check_page", "find_browser",
           "WIDGET_JS_PACKAGES"]

WIDGET_JS_PACKAGES = {"@jupyter-widgets/html-manager": "1.0.15", "requirejs": "2.3.7"}
"""npm packages whose files render saved widget state in a static page (the versions the
ipywidgets 8 HTML export expects); fetched from the npm registry at set-up time."""

_WIDGET_FILES = {"require.js": ("requirejs", "require.js"),
                 "embed-amd.js": ("@jupyter-widgets/html-manager", "dist/embed-amd.js")}


def install_widget_js(folder: Path | None = None, quiet: bool = False) -> Path | None:
    """Fetch the widget renderer's JavaScript with ``npm pack`` into ``folder`` (default
    :func:`posekit.paths.widget_js_dir`) and copy anywidget's from its Python package; returns
    the folder, or None (with a message) when npm is missing or the registry cannot be reached:
    the report then loads the renderer from its CDN, which an offline browser cannot reach."""
    import importlib.util
    import shutil
    import subprocess
    import tarfile
    import tempfile

    folder = Path(folder) if folder is not None else widget_js_dir()
    if all((folder / name).is_file() for name in [*_WIDGET_FILES, "anywidget.js"]):
        return folder
    npm = shutil.which("npm")
    if npm is None:
        print("posekit: npm not found, so report widgets will need a network to draw (install Node.js/npm and "
              "run `make env` again)")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        specs = [f"{name}@{version}" for name, version in WIDGET_JS_PACKAGES.items()]
        done = subprocess.run([npm, "pack", "--silent", "--pack-destination", tmp, *specs], capture_output=True,
                              text=True, timeout=300)
        if done.returncode:
            print(f"posekit: `npm pack {' '.join(specs)}` failed ({done.stderr.strip()[:200]}); report widgets "
                  "will need a network to draw")
            return None
        for tarball, package in zip(done.stdout.split(), WIDGET_JS_PACKAGES):
            with tarfile.open(Path(tmp) / tarball) as archive:
                for name, (owner, member) in _WIDGET_FILES.items():
                    if owner == package:
                        data = archive.extractfile(f"package/{member}").read()
                        (folder / name).write_bytes(data)
                if package == "@jupyter-widgets/html-manager":  # the icon fonts its CSS refers to
                    for member in archive.getmembers():
                        if member.isfile() and member.name.startswith("package/dist/") and \
                                member.name.rsplit(".", 1)[-1] in ("woff", "woff2", "ttf", "eot", "svg"):
                            (folder / Path(member.name).name).write_bytes(archive.extractfile(member).read())
    spec = importlib.util.find_spec("anywidget")
    if spec is not None and spec.submodule_search_locations:
        source = Path(list(spec.submodule_search_locations)[0]) / "nbextension" / "index.js"
        if source.is_file():
            shutil.copyfile(source, folder / "anywidget.js")
    if not quiet:
        print(f"posekit: widget JavaScript for offline reports in {folder}")
    return folder


def _exporter(out_dir: Path):
    """The HTML exporter: widget JavaScript from ``out_dir/static`` when installed, else the CDN."""
    import shutil

    from nbconvert import HTMLExporter

    source = widget_js_dir()
    if not all((source / name).is_file() for name in _WIDGET_FILES):
        return HTMLExporter(template_name="lab"), False
    static = out_dir / "static"
    static.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        target = static / path.name
        if path.is_file() and (not target.is_file() or target.stat().st_size != path.stat().st_size):
            shutil.copyfile(path, target)
    return HTMLExporter(template_name="lab", require_js_url="static/require.js",
                        widget_renderer_url="static/embed-amd.js"), True


def is_quick() -> bool:
    """True when notebooks should take their quick path (``POSEKIT_QUICK=1``, the report default)."""
    return os.environ.get("POSEKIT_QUICK", "0") not in ("", "0", "false", "False")


@contextlib.contextmanager
def quick_mode(quick: bool) -> Iterator[None]:
    """``POSEKIT_QUICK`` set for the notebooks' kernels (and :func:`notebook_dataset`) while the
    block runs, and put back as it was afterwards, so that a report leaves the caller's process
    in the mode it was in."""
    before = os.environ.get("POSEKIT_QUICK")
    os.environ["POSEKIT_QUICK"] = "1" if quick else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("POSEKIT_QUICK", None)
        else:
            os.environ["POSEKIT_QUICK"] = before


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


def export_html(nb, path: Path) -> Path:
    """An executed notebook as an HTML page at ``path``; its widgets draw offline from the saved
    widget state when the widget JavaScript is installed (copied into ``static/`` beside it), and
    plotly.js is one file in ``static/`` that every page loads (:func:`share_plotly_js`)."""
    exporter, local = _exporter(path.parent)
    body, _ = exporter.from_notebook_node(page_widget_state(nb))
    if local:  # anywidget (plotly's FigureWidget) from beside the page, before the renderer asks the CDN
        tag = '<script src="static/require.js"></script>'
        body = body.replace(tag, tag + '\n<script>require.config({paths: {anywidget: "static/anywidget"}});</script>', 1)
    body = share_plotly_js(drop_mathjax(body), path.parent / "static")
    with atomic_path(path) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return path


_PLOTLY_INLINE = re.compile(r"<script[^>]*>\s*(/\*\*\s*\* plotly\.js v([0-9][0-9.]*).*?)</script>", re.DOTALL)


def share_plotly_js(page: str, static: Path) -> str:
    """``page`` with every inline copy of plotly.js (4.8 MB, which ``init_notebook_mode`` puts in
    the notebook) replaced by one ``<script src>`` to ``static/plotly-<version>.min.js``, written
    there once: the pages of a report share it and stay a few MB each, offline."""
    found = _PLOTLY_INLINE.search(page)
    if found is None:
        return page
    source, version = found.group(1), found.group(2)
    target = Path(static) / f"plotly-{version}.min.js"
    if not target.is_file() or target.read_text(encoding="utf-8") != source:
        with atomic_path(target) as tmp:
            tmp.write_text(source, encoding="utf-8")
    return _PLOTLY_INLINE.sub(lambda m: f'<script src="static/{target.name}"></script>', page)


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTLY_JSON = "application/vnd.plotly.v1+json"


def page_widget_state(nb):
    """A copy of ``nb`` whose saved widget state keeps one form of each figure: an Output widget's
    figure is saved both as plotly JSON (for JupyterLab) and as HTML (for the page), and the page's
    widget renderer draws the HTML, so the JSON would only double the page's size."""
    import copy

    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    if not state:
        return nb
    nb = copy.deepcopy(nb)
    for model in nb["metadata"]["widgets"][WIDGET_STATE]["state"].values():
        for output in model.get("state", {}).get("outputs", []) or []:
            data = output.get("data", {})
            if PLOTLY_JSON in data and "text/html" in data:
                del data[PLOTLY_JSON]
    return nb


_MATHJAX = re.compile(r'\s*<!-- Load mathjax -->\s*<script src="[^"]*mathjax[^"]*">\s*</script>'
                      r'\s*<!-- MathJax configuration -->\s*<script type="text/x-mathjax-config">.*?</script>\s*',
                      re.DOTALL)


_CDN_MATHJAX_TAG = re.compile(r'<script src=\\?"https?://[^"\\]*mathjax[^"\\]*\\?">\s*</script>')


def drop_mathjax(page: str) -> str:
    """``page`` without MathJax from a CDN: nbconvert's loader and its configuration, and the tag
    plotly's notebook renderer puts before every figure (also inside saved widget state, where the
    quotes are escaped). An offline reader's browser would try to fetch them; posekit's notebooks
    and figures write no formulas."""
    page = _MATHJAX.sub("\n", page, count=1).replace("<!-- End of mathjax configuration -->", "", 1)
    return _CDN_MATHJAX_TAG.sub("", page)


def _kernel_config():
    """Kernel manager settings for the report's kernels: CurveZMQ-encrypted local sockets where
    pyzmq has them (the kernel then does not warn "running over TCP without encryption")."""
    import zmq
    from traitlets.config import Config

    return Config({"KernelManager": {"transport_encryption": "auto" if zmq.has("curve") else "disabled"}})


def run_notebook(path: Path, out_dir: Path, quick: bool = True, timeout: int = 1800) -> NotebookRun:
    """Execute ``path`` (working directory: its folder) and export it to ``out_dir``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", config=_kernel_config(),
                            resources={"metadata": {"path": str(path.parent)}})
    start, error = time.time(), ""
    try:
        with quick_mode(quick):
            client.execute()
    except CellExecutionError as err:
        error = str(err).strip().splitlines()[-1] if str(err).strip() else repr(err)
    seconds = time.time() - start
    (out_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    ipynb_path = out_dir / "notebooks" / path.name
    nbformat.write(nb, ipynb_path)
    html_path = export_html(nb, out_dir / f"{path.stem}.html")
    return NotebookRun(path.stem, seconds, not error, error, html_path, ipynb_path)


def notebook_dataset() -> DatasetConfig:
    """The dataset the evaluation notebooks (03-05) read: the default one in full mode; in quick
    mode :meth:`DatasetConfig.evaluation` (the default's text records exactly, a quarter of its
    image records from the same held-out poses: minutes less to build and to read)."""
    return DatasetConfig.evaluation() if is_quick() else DatasetConfig()


def prepare_datasets() -> None:
    """Build the datasets the notebooks read (quick and :func:`notebook_dataset`) before they run,
    with progress in the terminal: notebook 03 would otherwise spend minutes in one silent cell.
    Datasets that are already built (same config and caption rules) are reused at once."""
    for config, note in ((DatasetConfig.quick(), "seconds"), (notebook_dataset(), "minutes on 2 cores")):
        manifest = dataset_dir(config.name) / "manifest.json"
        fresh = not manifest.is_file()
        if fresh:
            print(f"building the {config.name} dataset ({note}, once) ...", flush=True)
        start = time.time()
        ensure_dataset(config, progress=True, workers=default_workers())
        if fresh or time.time() - start > 5:
            print(f"  {config.name} dataset ready in {time.time() - start:.0f} s", flush=True)


def is_report_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a report posekit wrote before folders carried :data:`posekit.outputs.MARKER`
    (its ``index.html`` is posekit's report index)."""
    try:
        return "<title>posekit report</title>" in (folder / "index.html").read_text(encoding="utf-8")[:500]
    except (OSError, UnicodeDecodeError):
        return False


def build_report(quick: bool = True, notebooks: list[str] | None = None, timeout: int = 1800,
                 force: bool = False) -> Path:
    """Run the notebooks in order, write the report; raises RuntimeError if any notebook failed.
    A page of the report's names in the reports folder that posekit did not write is refused before
    any notebook runs (:class:`posekit.outputs.OutputFolder`; ``force``: replaced)."""
    out_dir = reports_dir()
    paths = [Path(p) for p in notebooks] if notebooks else notebook_paths()
    pages = ["index.html", "notebooks", *(f"{p.stem}.html" for p in paths)]
    folder = OutputFolder(out_dir, "report", names=pages, force=force, legacy=is_report_folder)
    folder.record(*pages)  # the report's pages, written as the notebooks finish
    runs = []
    with quick_mode(quick):  # notebook_dataset reads it
        if not notebooks:
            prepare_datasets()
        for path in paths:
            print(f"running {path.name} ...", flush=True)
            run = run_notebook(path, out_dir, quick=quick, timeout=timeout)
            print(f"  {'ok' if run.ok else 'FAILED'} in {run.seconds:.0f} s{'' if run.ok else ': ' + run.error}",
                  flush=True)
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


@dataclass(frozen=True)
class PageCheck:
    """What a headless browser saw on a report page (:func:`check_page`), with no network."""

    path: Path
    errors: list[str]
    """JavaScript errors (uncaught exceptions, failed widget models)."""
    widget_views: int
    """Widget outputs saved in the page."""
    widgets_drawn: int
    figures: int
    """plotly figures in the page (``plotly-graph-div``)."""
    figures_drawn: int

    @property
    def ok(self) -> bool:
        return not self.errors and self.widgets_drawn >= self.widget_views and self.figures_drawn >= self.figures

    def summary(self) -> str:
        parts = [f"{self.path.name}: widgets {self.widgets_drawn}/{self.widget_views} drawn, "
                 f"figures {self.figures_drawn}/{self.figures} drawn"]
        parts += [f"JavaScript error: {e}" for e in self.errors[:3]]
        return "; ".join(parts)


def find_browser() -> str | None:
    """A headless-capable Chromium on this machine (Debian: ``apt-get install chromium``), or None."""
    import shutil

    return next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)


def check_page(path: str | os.PathLike, browser: str | None = None, budget_ms: int = 20000) -> PageCheck:
    """Open a report page in headless Chromium with every host unreachable (as on an offline
    machine), let its scripts run for ``budget_ms`` of virtual time, and count what drew: each
    saved widget view must render and each plotly figure must plot, with no JavaScript error.
    Raises ``FileNotFoundError`` when no browser is installed."""
    import re
    import subprocess
    import tempfile

    path = Path(path).resolve()
    browser = browser or find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium found: install one (Debian: apt-get install chromium) to check pages")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
             "--host-resolver-rules=MAP * ~NOTFOUND", f"--virtual-time-budget={budget_ms}",
             "--enable-logging=stderr", "--v=0", "--dump-dom", path.as_uri()],
            capture_output=True, text=True, timeout=300)
    dom, log = done.stdout, done.stderr
    errors = []
    for line in log.splitlines():
        message = re.search(r'CONSOLE[^"]*"(.*)", source:', line)
        if message and re.search(r"Uncaught|Error:|is not defined|not found", message.group(1)):
            errors.append(message.group(1)[:300])
    views = dom.count('<script type="application/vnd.jupyter.widget-view+json">')
    drawn = dom.count('class="widget-subarea"')
    figures = len(re.findall(r'class="plotly-graph-div', dom))
    plotted = len(re.findall(r'class="plotly-graph-div[^"]*js-plotly-plot', dom))
    return PageCheck(path, errors, views, drawn, figures, plotted)
