"""The lifecycle report: a new project says what has not started; a project through Deploy and
Monitor shows the services' own numbers; the HTML is self-contained, well formed and escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from app.domain.monitor import Decision
from app.services import browse, model_card, monitor, problem, registry
from app.services import evaluation as ev
from app.services import training as tr
from app.services.profile import profile_dataset
from app.services.report import (
    NOT_STARTED,
    Chart,
    Embedded,
    Table,
    build_report,
    chart_text,
    to_html,
    to_markdown,
    write_report,
)
from storage import profiles
from storage import repositories as repo
from storage.db import ProjectStore
from tests.unit.train_fixtures import adult_frame, charter, passed_project

VOID = {"meta", "br", "hr", "img", "input", "link", "wbr"}


class StrictParser(HTMLParser):
    """Records tags that are closed out of order, left open, or never opened."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> StrictParser:
    parser = StrictParser()
    parser.feed(page)
    parser.close()
    assert parser.problems == []
    assert parser.stack == []
    return parser


def assert_self_contained(page: str) -> None:
    lowered = page.lower()
    for needle in ("http://", "https://", "src=", "<link", "<script", "@import", "url("):
        assert needle not in lowered, needle
    for tag, attrs in parse(page).tags:
        assert "src" not in attrs, tag
        if "href" in attrs:
            assert (attrs["href"] or "").startswith("#"), attrs


# -- a brand-new project --------------------------------------------------------------------


def test_a_new_project_reports_every_stage_as_not_started(tmp_path: Path) -> None:
    store = ProjectStore.create(tmp_path / "p", "Fresh")
    report = build_report(store)
    keys = [s.key for s in report.sections]
    assert keys == [
        "overview",
        "charter",
        "data",
        "explore",
        "train",
        "evaluate",
        "model_card",
        "deploy",
        "monitor",
        "retrain",
    ]
    assert all(s.state == NOT_STARTED for s in report.sections[1:])
    markdown = to_markdown(report)
    assert markdown.startswith("# Lifecycle report: Fresh\n")
    assert markdown.count(f"({NOT_STARTED})") == 9
    assert "Not started: no charter saved yet" in markdown
    assert "None yet" in report.section("retrain").blocks[0].text  # type: ignore[union-attr]
    page = to_html(report)
    assert_self_contained(page)
    assert page.count('class="state not-started"') == 2 * 9  # in the contents and the heading


def test_write_report_defaults_to_the_project_folder(tmp_path: Path) -> None:
    store = ProjectStore.create(tmp_path / "p", "Fresh")
    write_report(store, html_path=tmp_path / "out" / "r.html")
    assert (store.root / "report.md").read_text().startswith("# Lifecycle report: Fresh")
    assert (tmp_path / "out" / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert not [p for p in store.root.iterdir() if p.name.startswith(".")]


# -- charter history, escaping, retrain events -----------------------------------------------


def test_charter_history_escaping_and_retrain_events(tmp_path: Path) -> None:
    store = ProjectStore.create(tmp_path / "p", "Esc <b>")
    problem.save_charter(
        store, charter("adult", objective="Find <script>alert(1)</script> earners")
    )
    problem.save_charter(
        store, charter("adult", objective="Find <script>alert(1)</script> earners", threshold=0.7)
    )
    with store.transaction() as con:
        repo.record_event(con, "retrain", "promote", "challenger v2 beat the champion | by 0.03")
    report = build_report(store)
    history = report.section("charter").blocks[-1]
    assert isinstance(history, Table)
    assert [r[0] for r in history.rows] == ["v2", "v1"]
    assert history.rows[0][3] == "threshold"
    assert history.rows[1][3] == "first version"
    retrain = report.section("retrain")
    assert retrain.state == "done"
    assert "challenger v2 beat the champion \\| by 0.03" in to_markdown(report)
    page = to_html(report)
    assert_self_contained(page)
    assert "Find &lt;script&gt;alert(1)&lt;/script&gt; earners" in page
    assert "Esc &lt;b&gt;" in page
    assert "".join(parse(page).text).count("<script>alert(1)</script>") == 1


def test_text_bars_scale_to_the_largest_value_and_mark_the_reference() -> None:
    text = chart_text(Chart("t", ["a", "bb"], [0.5, 1.0], reference=0.2, reference_label="bar"))
    lines = text.splitlines()
    assert lines[1] == "a  " + "█" * 6 + "┆" + "█" * 9 + " 0.5000"
    assert lines[2] == "bb " + "█" * 6 + "┆" + "█" * 24 + " 1.0000"
    assert lines[3] == "┆ bar 0.2"


# -- a project through Deploy and Monitor ------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectStore, int]:
    root = tmp_path_factory.mktemp("report")
    store, run_id = passed_project(root)
    profile_dataset(store, "adult")
    version = registry.deploy(store, run_id)
    registry.promote(store, version.version)
    path = root / "later.csv"
    adult_frame(4000).tail(1500).with_row_index("id").write_csv(path)
    batch = monitor.add_batch(store, path, label_column="income")
    monitor.decide(store, batch.id, "inspect", "checked the <new> rows")
    return store, run_id


def test_every_section_of_a_monitored_project_has_the_services_numbers(live) -> None:
    store, run_id = live
    report = build_report(store)
    assert [s.key for s in report.sections if s.state == NOT_STARTED] == ["retrain"]
    markdown = to_markdown(report)

    evaluation = ev.latest(store, run_id)
    assert evaluation is not None
    primary = evaluation.metric(evaluation.primary)
    assert primary is not None and primary.model.value is not None
    assert f"Gate: {evaluation.gate.outcome.label} — {evaluation.gate.summary}" in markdown
    metrics = next(b for b in report.section("evaluate").blocks if isinstance(b, Table))
    row = next(r for r in metrics.rows if r[0].endswith("(primary)"))
    assert row[1] == f"{primary.model.value:.4f}"
    assert row[2] == f"{primary.model.low:.4f} – {primary.model.high:.4f}"

    board = tr.leaderboard(store)
    table = next(b for b in report.section("train").blocks if isinstance(b, Table))
    leader = board.rows[0].run
    assert table.rows[0][2] == str(leader.id)
    assert table.rows[0][3].startswith(f"{leader.mean[board.primary]:.4f} ± ")
    assert "(chosen)" in table.rows[0][1]

    (card,) = report.section("model_card").blocks
    assert isinstance(card, Embedded)
    assert card.markdown == model_card.model_card(store, run_id)
    assert "### Model card: " in markdown  # the card's headings sit under the section

    versions = report.section("deploy").blocks[0]
    assert isinstance(versions, Table)
    assert versions.rows[0][:4] == ["v1", str(run_id), "pass", "production"]
    assert "bundle v1 promoted to production" in markdown

    (batch,) = monitor.list_batches(store)
    timeline = report.section("monitor").blocks[0]
    assert isinstance(timeline, Table)
    (first,) = timeline.rows
    perf = batch.report.performance
    assert perf is not None and perf.value is not None
    assert first[0] == str(batch.id)
    assert first[5] == batch.status.value.upper()
    assert first[6] == f"{batch.report.drift.n_drifted}/{batch.report.drift.n_assessed}"
    assert first[7].startswith(f"{perf.metric} {perf.value:.4f} (")
    assert first[8] == Decision.INSPECT.value
    assert "checked the <new> rows" in markdown

    current = browse.current_dataset(store)
    assert current is not None
    with store.connect() as con:
        profile = profiles.latest_profile(con, current.name, current.version, current.fingerprint)
    assert profile is not None
    assert f"### Alerts ({len(profile.alerts)})" in markdown

    assert report.section("retrain").blocks[0].text.startswith("None yet")  # type: ignore[union-attr]


def test_the_html_of_a_monitored_project_is_self_contained_and_escaped(live) -> None:
    store, run_id = live
    page = to_html(build_report(store))
    assert_self_contained(page)
    assert page.count("<svg") >= 3  # leaderboard, metric per batch, drift share (+ MI)
    assert "checked the &lt;new&gt; rows" in page
    evaluation = ev.latest(store, run_id)
    assert evaluation is not None
    assert f"Gate: {evaluation.gate.outcome.label}" in page
    anchors = re.findall(r'href="#([^"]+)"', page)
    ids = set(re.findall(r'<section id="([^"]+)"', page))
    assert anchors and set(anchors) == ids


async def test_the_tui_palette_command_writes_the_report(tmp_path: Path) -> None:
    from app.tui import MlwbApp

    store = ProjectStore.create(tmp_path / "p", "Fresh")
    app = MlwbApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Write the lifecycle report" in titles
        app.action_write_report()
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert any("Wrote" in n.message for n in app._notifications)
    assert (store.root / "report.md").read_text().startswith("# Lifecycle report: Fresh")
    assert_self_contained((store.root / "report.html").read_text())
