"""Report pages as a browser sees them: widgets and figures draw offline, no JavaScript errors."""
import json
import re

import nbformat
import pytest

from posekit.paths import reports_dir, widget_js_dir
from posekit.report import check_page, export_html, find_browser, run_notebook

BROWSER = find_browser()
needs_browser = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium: install one (Debian: apt-get install chromium) to test report pages")
needs_widget_js = pytest.mark.skipif(
    not (widget_js_dir() / "embed-amd.js").is_file(),
    reason="widget JavaScript not installed: run `make env` (needs npm) or posekit.report.install_widget_js()")

SETUP = "from posekit.viz import setup_notebook\nsetup_notebook()\nimport ipywidgets as w\nimport plotly.graph_objects as go"


def _executed(cells):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in [SETUP, *cells]])
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    return nb


@needs_browser
@needs_widget_js
def test_widgets_and_figures_draw_offline_and_the_check_can_fail(tmp_path, monkeypatch):
    nb = _executed([
        "from posekit.viz import FigureView\n"
        "view = FigureView(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])))\n"
        "view.show(go.Figure(go.Scatter(x=[0, 1, 2], y=[2, 1, 3])))  # redrawn: the page shows this one\n"
        "w.VBox([w.HTML('<b>panel</b>'), view.widget, w.IntSlider(3)])",
        "go.Figure(go.Bar(x=['a', 'b'], y=[1, 2]))",
    ])
    # the view's figure is inside the widget (its saved state), not a stray output of the cell
    assert [o["output_type"] for o in nb.cells[1].outputs] == ["execute_result"]
    assert "application/vnd.jupyter.widget-view+json" in nb.cells[1].outputs[0]["data"]
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    shown = [o["data"] for m in state.values() if m["model_name"] == "OutputModel" for o in m["state"]["outputs"]]
    assert len(shown) == 1 and "text/html" in shown[0] and "[2, 1, 3]" in json.dumps(shown[0])  # the redrawn one
    check = check_page(export_html(nb, tmp_path / "good.html"), BROWSER)
    assert check.ok, check.summary()
    assert check.widget_views == 1 and check.figures == 2, check.summary()  # the Bar and the view's figure
    assert (tmp_path / "static" / "embed-amd.js").is_file()  # shipped beside the page
    # without the local renderer the page asks a CDN, which an offline browser cannot reach
    monkeypatch.setenv("POSEKIT_WIDGET_JS", str(tmp_path / "none"))
    offline = tmp_path / "cdn"
    offline.mkdir()
    check = check_page(export_html(nb, offline / "page.html"), BROWSER)
    assert not check.ok and check.widgets_drawn == 0, check.summary()


@needs_browser
def test_the_pages_of_the_last_report_draw():
    pages = sorted(reports_dir().glob("[0-9][0-9]_*.html"))
    if not pages:
        pytest.skip(f"no report pages in {reports_dir()}: run `make run` first")
    problems = [check.summary() for check in map(check_page, pages) if not check.ok]
    assert not problems, problems


def test_report_kernels_run_without_the_unencrypted_transport_warning(tmp_path, capfd):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nbformat.write(nb, tmp_path / "t.ipynb")
    run = run_notebook(tmp_path / "t.ipynb", tmp_path / "out")
    assert run.ok, run
    executed = nbformat.read(run.ipynb_path, as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "42\n"
    assert "without encryption" not in capfd.readouterr().err


def test_pages_load_nothing_from_a_cdn_for_formulas(tmp_path):
    import plotly.graph_objects as go
    import plotly.io as pio

    figure = pio.renderers["notebook"].to_mimebundle(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])).to_dict())
    assert "mathjax" in figure["text/html"]  # plotly's notebook renderer asks a CDN for MathJax
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("A page with text and no formula."),
                nbformat.v4.new_code_cell("fig", outputs=[nbformat.v4.new_output("display_data", figure)])]
    page = export_html(nb, tmp_path / "page.html").read_text()
    assert not re.findall(r'<script src=[^>]*mathjax', page, flags=re.IGNORECASE), "a MathJax script from a CDN"
    assert "A page with text and no formula." in page and "plotly" in page


def test_pages_keep_one_form_of_each_widget_figure():
    from posekit.report import PLOTLY_JSON, WIDGET_STATE, page_widget_state

    output = {"output_type": "display_data", "data": {PLOTLY_JSON: {"data": []}, "text/html": "<div>fig</div>"}}
    alone = {"output_type": "display_data", "data": {PLOTLY_JSON: {"data": []}}}
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": {"a": {"state": {"outputs": [output, alone]}}}}}
    slim = page_widget_state(nb)
    kept = slim.metadata["widgets"][WIDGET_STATE]["state"]["a"]["state"]["outputs"]
    assert list(kept[0]["data"]) == ["text/html"] and PLOTLY_JSON in kept[1]["data"]  # the only form stays
    assert PLOTLY_JSON in output["data"]  # the notebook itself (reports/notebooks/) keeps both


def test_quick_mode_is_put_back_as_it_was(monkeypatch):
    import os

    from posekit.report import quick_mode

    monkeypatch.delenv("POSEKIT_QUICK", raising=False)
    with quick_mode(True):
        assert os.environ["POSEKIT_QUICK"] == "1"
    assert "POSEKIT_QUICK" not in os.environ
    monkeypatch.setenv("POSEKIT_QUICK", "0")
    with pytest.raises(RuntimeError), quick_mode(True):
        raise RuntimeError("a notebook failed")
    assert os.environ["POSEKIT_QUICK"] == "0"
