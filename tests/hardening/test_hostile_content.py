"""Hostile content (HTML/JS in column names, category values, labels, texts, messages) stays inert.

A real run over a dataset whose column names, category values and target labels carry script
payloads, plus a results file with payloads in every free-text field (warnings, errors, tables,
figure labels, token texts), is rendered to report.html, the Markdown model card, the PR verdict
table and JUnit. Each output is checked structurally (no script elements, no event-handler
attributes, no javascript: links) and, where Chromium is installed, opened headless: every
payload would set ``document.title`` to a marker assembled at run time, so the marker must not
appear in the rendered DOM. A control page with one raw payload proves the harness sees it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hardening_helpers import invoke

from audit.card import render_card
from audit.report.html import render_html
from audit.report.junit import junit_xml
from audit.report.markdown import verdict_markdown
from audit.results import CheckRecord, RunResults, load_results

MARKER = "XSSFIRED"  # never appears literally in a payload: the payloads build it as 'XSS'+'FIRED'
FIRE = "document.title='XSS'+'FIRED'"
PAYLOADS = [
    f"<script>{FIRE}</script>",
    f'<img src=x onerror="{FIRE}">',
    f'<svg onload="{FIRE}">',
    f"</script><script>{FIRE}</script>",
    f'"><img src=x onerror={FIRE}>',
    f"'><svg/onload={FIRE}>",
    f"javascript:{FIRE}",
    f'<iframe srcdoc="<script>parent.{FIRE}</script>"></iframe>',
    f'<a href="javascript:{FIRE}">x</a>',
    f'<details open ontoggle="{FIRE}">',
    f"]]><script>{FIRE}</script>",
    f"<style>*{{background:url(javascript:{FIRE})}}</style>",
]
CHROMIUM = (
    shutil.which("chromium")
    or shutil.which("chromium-browser")
    or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium); the structural checks still run"
)
SITES: set[str] = set()


def hostile_frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    group = rng.choice(PAYLOADS[:4], n)
    category = rng.choice(PAYLOADS[4:8], n)
    logit = x + 0.4 * (group == PAYLOADS[0])
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), PAYLOADS[9], "bad" + PAYLOADS[3])
    return pd.DataFrame({"x": x.round(4), PAYLOADS[1]: category, PAYLOADS[2]: group, "y": y})


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    import yaml

    from audit.registry import CHECKS

    folder = tmp_path_factory.mktemp("hostile")
    hostile_frame().to_csv(folder / "data.csv", index=False)
    checks = [{"name": "performance", "params": {"bootstrap": 50}}, {"name": "fairness", "params": {"bootstrap": 50}}]
    if "drift" in CHECKS:
        checks.append({"name": "drift"})
    suite = {
        "version": 1,
        "name": "hostile",
        "description": " ".join(PAYLOADS),
        "data": {"path": "data.csv", "target": "y", "positive_label": PAYLOADS[9], "sensitive": [PAYLOADS[2]]},
        "models": [{"name": "lr", "recipe": "logistic_regression"}],
        "checks": checks,
        "gates": [f"*/fairness/demographic_parity_difference[{PAYLOADS[2]}] <= 0.5", "*/performance/accuracy >= 0.99"],
        "output": {"dir": str(folder / "reports")},
    }
    (folder / "suite.yaml").write_text(yaml.safe_dump(suite, allow_unicode=True))
    code, _, err = invoke(["run", str(folder / "suite.yaml"), "-q"])
    assert code in (0, 1), err
    run_dir = next((folder / "reports" / "hostile").iterdir())
    SITES.update({"column name", "category value", "sensitive value", "target label", "suite description", "gate path"})
    return run_dir, load_results(run_dir)


def poisoned(results: RunResults) -> RunResults:
    """The results with payloads in every free-text field a renderer shows."""
    r = results.model_copy(deep=True)
    record = CheckRecord(
        check="fairness",
        model="lr",
        status="error",
        error="CheckError: " + PAYLOADS[0],
        warnings=list(PAYLOADS),
        tables={PAYLOADS[1]: [{PAYLOADS[2]: PAYLOADS[3], "n": 1}]},
        figures=[
            {
                "kind": "bar",
                "title": PAYLOADS[4],
                "labels": PAYLOADS[:3],
                "values": [0.1, 0.2, 0.3],
                "x_label": PAYLOADS[5],
            },
            {
                "kind": "heatmap",
                "title": PAYLOADS[6],
                "matrix": [[1, 2], [3, 4]],
                "row_labels": PAYLOADS[7:9],
                "col_labels": PAYLOADS[9:11],
            },
            {"kind": "tokens", "title": PAYLOADS[10], "tokens": PAYLOADS, "weights": [0.5] * len(PAYLOADS)},
            {"kind": "image", "title": PAYLOADS[11], "path": "../" + PAYLOADS[0] + ".png", "caption": PAYLOADS[1]},
            {"kind": PAYLOADS[2]},
        ],
    )
    r.checks.append(record)
    for gate in r.gates:
        gate.message += " " + PAYLOADS[8]
    r.manifest["data_source"] = PAYLOADS[5]
    r.manifest["packages"][PAYLOADS[6]] = PAYLOADS[7]
    r.suite["features"] = [*r.suite["features"], PAYLOADS[8]]
    SITES.update(
        {
            "check error",
            "warning",
            "table key",
            "table cell",
            "chart title",
            "chart label",
            "token text",
            "image path",
            "figure kind",
            "gate message",
            "manifest",
            "package name",
        }
    )
    return r


def assert_inert_html(html: str) -> None:
    """No element or attribute a payload could have smuggled in."""
    import lxml.html

    doc = lxml.html.document_fromstring(html)
    assert doc.xpath("//script | //iframe | //object | //embed | //style[not(parent::head)] | //body//link") == []
    handlers = [
        (el.tag, a) for el in doc.iter() if isinstance(el.tag, str) for a in el.attrib if a.lower().startswith("on")
    ]
    assert handlers == []
    assert (
        doc.xpath(
            "//*[starts-with(normalize-space(@href), 'javascript:') or starts-with(normalize-space(@src), 'javascript:')]"
        )
        == []
    )
    assert all(src.startswith("data:image/") for src in doc.xpath("//img/@src"))
    assert MARKER not in html


def chromium_dom(page: Path, tmp_path: Path) -> str:
    """The DOM after Chromium loaded ``page`` and ran its scripts (virtual time, no network)."""
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
        "--virtual-time-budget=3000",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "<html" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def title_of(dom: str) -> str:
    match = re.search(r"<title>(.*?)</title>", dom, re.S)
    return match.group(1) if match else ""


def test_report_of_a_hostile_run_is_inert(hostile_run):
    run_dir, results = hostile_run
    html = (run_dir / "report.html").read_text()
    assert_inert_html(html)
    assert "&lt;script&gt;document.title=" in html  # shown as text
    assert results.suite["sensitive"] == [PAYLOADS[2]]  # the payload really went through the run
    assert any(PAYLOADS[2] in m.path for m in results.metrics)


def test_every_renderer_escapes_a_poisoned_results_file(hostile_run, tmp_path):
    run_dir, results = hostile_run
    bad = poisoned(results)
    assert_inert_html(render_html(bad, run_dir))
    card_html = _markdown_to_html(render_card(bad))
    assert_inert_html(card_html)
    assert_inert_html(_markdown_to_html(verdict_markdown(bad)))
    root = ET.fromstring(junit_xml(bad).split("\n", 1)[1])  # well-formed XML, payloads as text
    assert any(PAYLOADS[0] in (e.get("message") or "") for e in root.iter("error"))
    SITES.update({"report.html", "model card", "verdict table", "junit"})


def test_model_card_of_the_hostile_run_is_inert(hostile_run):
    _, results = hostile_run
    card = render_card(results)
    assert_inert_html(_markdown_to_html(card))  # rendered as GitHub / the Hub would, raw HTML allowed
    for entity in ("&lt;", "&gt;", "&amp;"):  # clean Markdown: backslash escapes, not HTML entities
        assert entity not in card
    assert "\\<script\\>document.title='XSS'+'FIRED'\\</script\\>" in card  # shown as text, not dropped


def _markdown_to_html(markdown: str) -> str:
    """Render as GitHub would: Markdown with raw HTML allowed (the escaping must hold on its own)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    return f"<!doctype html><html><head><title>card</title></head><body>{body}</body></html>"


def test_harness_detects_an_unescaped_payload(tmp_path):
    """Control: the same checks must catch a raw payload, or the tests above prove nothing."""
    raw = _markdown_to_html(f"# card\n\n{PAYLOADS[1]}\n")
    with pytest.raises(AssertionError):
        assert_inert_html(raw)
    if CHROMIUM:
        page = tmp_path / "control.html"
        page.write_text(raw)
        assert title_of(chromium_dom(page, tmp_path)) == MARKER


@needs_chromium
def test_no_payload_executes_in_chromium(hostile_run, tmp_path):
    run_dir, results = hostile_run
    bad = poisoned(results)
    pages = {
        "report.html": (run_dir / "report.html").read_text(),
        "poisoned-report.html": render_html(bad, run_dir),
        "card.html": _markdown_to_html(render_card(bad)),
    }
    # the report also carries a CSP that blocks scripts; without it the escaping alone must hold
    pages["report-no-csp.html"] = re.sub(
        r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", pages["poisoned-report.html"]
    )
    assert pages["report-no-csp.html"] != pages["poisoned-report.html"]
    for name, html in pages.items():
        page = tmp_path / name
        page.write_text(html)
        dom = chromium_dom(page, tmp_path)
        assert MARKER not in dom, name
        assert title_of(dom) != MARKER, name
        assert_inert_html(dom)


@pytest.mark.slow
def test_hostile_texts_in_a_text_suite_are_inert(tmp_path):
    """Texts and a sensitive column full of payloads, explained word by word (token figures)."""
    import yaml

    from audit.registry import CHECKS, RECIPES

    if "tfidf_logreg" not in RECIPES or "explain" not in CHECKS:
        pytest.skip("the text extras (tfidf_logreg recipe, text_explain check) are not registered")
    rng = np.random.default_rng(0)
    good, bad = ["great flight", "lovely crew", "friendly and on time"], ["late again", "lost my bag", "rude staff"]
    rows = []
    for i in range(240):
        positive = bool(rng.random() < 0.5)
        words = [*rng.choice(good if positive else bad, 2).tolist(), PAYLOADS[i % len(PAYLOADS)]]
        rows.append(
            {"text": " ".join(words), "label": "positive" if positive else "negative", "topic": PAYLOADS[(i // 3) % 3]}
        )
    pd.DataFrame(rows).to_csv(tmp_path / "data.csv", index=False)
    suite = {
        "version": 1,
        "name": "hostiletext",
        "data": {
            "modality": "text",
            "path": "data.csv",
            "target": "label",
            "text_column": "text",
            "positive_label": "positive",
            "sensitive": ["topic"],
        },
        "models": [{"name": "tfidf", "recipe": "tfidf_logreg"}],
        "checks": [
            {"name": "explain", "params": {"methods": ["shap"], "n_examples": 3, "max_evals": 40, "bootstrap": 0}}
        ],
        "output": {"dir": str(tmp_path / "reports")},
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite, allow_unicode=True))
    code, _, err = invoke(["run", str(tmp_path / "suite.yaml"), "-q"])
    assert code == 0, err
    run_dir = next((tmp_path / "reports" / "hostiletext").iterdir())
    results = load_results(run_dir)
    tokens = [t for c in results.checks for f in c.figures if f["kind"] == "tokens" for t in f["tokens"]]
    assert any("<" in t for t in tokens)  # the payloads reached the token figures
    html = (run_dir / "report.html").read_text()
    assert_inert_html(html)
    assert_inert_html(_markdown_to_html(render_card(results)))
    if CHROMIUM:
        page = tmp_path / "text-report-no-csp.html"
        page.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html))
        assert MARKER not in chromium_dom(page, tmp_path)
    SITES.update({"text", "token figure"})


ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_SOURCES = [*ROOT.glob("dashboards/**/*.py"), *ROOT.glob("audit/dashboard/*.py")]


@pytest.mark.skipif(not DASHBOARD_SOURCES, reason="the dashboard is not in this tree")
def test_dashboard_never_renders_raw_html():
    """No Streamlit element that would render user text as HTML (the dashboard escapes instead)."""
    risky = re.compile(
        r"unsafe_allow_html\s*=\s*True|st\.html\(|components\.(v1\.)?html\(|components\.v1\.iframe|unsafe_allow_javascript"
    )
    hits = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in DASHBOARD_SOURCES
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if risky.search(line)
    ]
    assert hits == []


@pytest.mark.skipif(
    not (ROOT / "dashboards" / "views" / "common.py").exists(), reason="the dashboard is not in this tree"
)
def test_dashboard_markdown_escaping_holds_for_every_payload(tmp_path, monkeypatch):
    pytest.importorskip("streamlit")
    monkeypatch.syspath_prepend(str(ROOT))
    from dashboards.views.common import md

    text = "\n\n".join(f"- group {md(payload)} · {md('model ' + payload)}" for payload in PAYLOADS)
    html = _markdown_to_html(text)
    assert_inert_html(html)
    if CHROMIUM:
        page = tmp_path / "dashboard-md.html"
        page.write_text(html)
        assert MARKER not in chromium_dom(page, tmp_path)
    SITES.add("dashboard markdown")


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "dashboards" / "app.py").exists(), reason="the dashboard is not in this tree")
def test_dashboard_pages_show_the_hostile_run_as_text(hostile_run, monkeypatch):
    """Every page of the dashboard over the hostile run: no exception, no HTML element, no raw tag."""
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    run_dir, _ = hostile_run
    monkeypatch.setenv("AUDIT_REPORTS_DIR", str(run_dir.parent.parent))
    raw_tag = re.compile(r"(?<!\\)<\s*(script|img|svg|iframe|a\s|details|style)", re.I)
    for page in ("Runs", "Run detail", "Compare runs", "Fairness explorer", "Explanation explorer"):
        at = AppTest.from_file(str(ROOT / "dashboards" / "app.py"), default_timeout=240)
        at.run()
        if at.sidebar.radio(key="page").value != page:
            at.sidebar.radio(key="page").set_value(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert all(not el.allow_html for el in list(at.markdown) + list(at.caption)), page
        for kind in ("markdown", "caption", "title", "header", "subheader", "error", "warning", "info", "success"):
            for el in getattr(at, kind):
                assert not raw_tag.search(str(el.value)), (page, kind, str(el.value)[:300])
    SITES.add("dashboard pages")


def test_payload_counts():
    """Prints how many payloads and injection sites were exercised (run with -s)."""
    print(f"\nhostile content: {len(PAYLOADS)} payloads x {len(SITES)} injection sites/outputs: {sorted(SITES)}")
    assert len(PAYLOADS) >= 10


def test_results_json_round_trips_payloads(hostile_run):
    run_dir, _ = hostile_run
    raw = json.loads((run_dir / "results.json").read_text())
    assert raw["suite"]["sensitive"] == [PAYLOADS[2]]
