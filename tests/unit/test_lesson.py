"""Lesson mode on real projects: progress checks, hints, checkpoints and resets.

The checkpoints are built once per test session by the lessons' reference solution (the
same services the screens and the CLI call) and cached under a shared folder, so each stage's
checkpoint is also the evidence that the checks flip from ○ to ✓ as the work is done.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import polars as pl
import pytest

from app.domain.lesson import Lesson
from app.domain.stages import Stage
from app.errors import MlwbError, ProjectInUse
from app.services import cleaning, monitor, problem, roles
from app.services import lesson as svc
from app.services import lesson_reset as lr
from app.services.demo import DEMO_CHARTERS, sample_data_dir
from app.services.lesson_reference import lesson_files, reference_charter, solve
from storage.db import ProjectStore
from storage.presence import ProjectPresence

STAGES = list(Stage)


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo root shared by the lesson tests (checkpoints are cached in it)."""
    path = tmp_path_factory.getbasetemp() / "lesson-home"
    path.mkdir(exist_ok=True)
    return path


def at(home: Path, tmp_path: Path, name: str, stage: Stage) -> ProjectStore:
    """A private copy of lesson ``name``'s checkpoint at the start of ``stage``."""
    target = tmp_path / f"{name}-{stage.value}"
    shutil.copytree(lr.checkpoint(svc.get_lesson(name), stage, home), target)
    return ProjectStore.open(target)


def marks(store: ProjectStore, lesson: Lesson) -> dict[str, bool]:
    return {t.task_id: t.done for t in svc.progress(store, lesson).tasks}


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- progress along the reference solution ------------------------------------------------


@pytest.mark.parametrize("name", ["bikes", "adult"])
def test_each_checkpoint_has_exactly_the_earlier_stages_done(home: Path, name: str) -> None:
    lesson = svc.get_lesson(name)
    for stage in STAGES:
        store = ProjectStore.open(lr.checkpoint(lesson, stage, home))
        found = marks(store, lesson)
        earlier = {t.id for t in lesson.tasks if STAGES.index(t.stage) < STAGES.index(stage)}
        assert {k for k, done in found.items() if done} == earlier, (stage, found)
        assert svc.current_stage(lesson, svc.progress(store, lesson)) is stage


def test_the_retrain_tasks_flip_when_the_reference_retrain_runs(home: Path, tmp_path: Path) -> None:
    lesson = svc.get_lesson("bikes")
    store = at(home, tmp_path, "bikes", Stage.RETRAIN)
    assert not marks(store, lesson)["challenger"]
    solve(store, "bikes", Stage.RETRAIN, home)
    progress = svc.progress(store, lesson)
    assert all(t.done for t in progress.tasks), [t for t in progress.tasks if not t.done]
    decide = progress.of("decide")
    assert decide is not None and "promoted" in decide.evidence
    # The challenger's new version keeps the earlier achievements (same recipe, passing gate).
    profile = progress.of("profile")
    assert profile is not None and "same recipe" in profile.evidence


def test_evidence_names_what_was_found(home: Path) -> None:
    lesson = svc.get_lesson("adult")
    store = ProjectStore.open(lr.checkpoint(lesson, Stage.MONITOR, home))
    progress = svc.progress(store, lesson)
    kpi, markers, baseline = progress.of("kpi"), progress.of("markers"), progress.of("baseline")
    assert kpi is not None and kpi.evidence.startswith("charter v1: f1 >= 0.65")
    assert markers is not None and "no '?' left" in markers.evidence
    assert baseline is not None and "vs baseline 0" in baseline.evidence


# -- individual checks on real data ------------------------------------------------------


def test_kpi_rejects_accuracy_on_the_imbalanced_adult_data(home: Path, tmp_path: Path) -> None:
    lesson = svc.get_lesson("adult")
    store = at(home, tmp_path, "adult", Stage.PROBLEM)
    assert svc.progress(store, lesson).of("kpi").evidence == "no charter saved yet"  # type: ignore[union-attr]
    problem.save_charter(
        store, {**reference_charter("adult"), "primary_metric": "accuracy", "threshold": 0.8}
    )
    kpi = svc.progress(store, lesson).of("kpi")
    assert kpi is not None and not kpi.done and "0.76 accuracy" in kpi.evidence
    problem.save_charter(store, reference_charter("adult"))
    assert marks(store, lesson)["kpi"]


def test_kpi_needs_the_time_column_for_bikes(home: Path, tmp_path: Path) -> None:
    store = at(home, tmp_path, "bikes", Stage.PROBLEM)
    problem.save_charter(store, {**reference_charter("bikes"), "time_column": None})
    kpi = svc.progress(store, svc.get_lesson("bikes")).of("kpi")
    assert kpi is not None and not kpi.done and "time_column" in kpi.evidence


def test_markers_count_the_question_marks_left(home: Path, tmp_path: Path) -> None:
    lesson = svc.get_lesson("adult")
    store = at(home, tmp_path, "adult", Stage.DATA)
    before = svc.progress(store, lesson)
    assert not before.of("spaces").done  # type: ignore[union-attr]
    cleaning.add_step(store, "adult", {"kind": "trim_whitespace"})
    after = svc.progress(store, lesson)
    assert after.of("spaces").done  # type: ignore[union-attr]
    markers = after.of("markers")
    raw = pl.read_csv(lesson_files("adult", home).train).with_columns(
        pl.col(pl.String).str.strip_chars()
    )
    expected = ", ".join(
        f"{c} {n:,}"
        for c in raw.columns
        if raw[c].dtype == pl.String and (n := int((raw[c] == "?").sum()))
    )
    assert markers is not None and not markers.done
    assert markers.evidence == f"adult@2 still has '?' cells: {expected}"
    assert "workclass" in expected and "native-country" in expected
    cleaning.add_step(store, "adult", {"kind": "null_markers", "markers": ["?"]})
    assert marks(store, lesson)["markers"]


def test_leakage_columns_may_be_ignored_instead_of_dropped(home: Path, tmp_path: Path) -> None:
    lesson = svc.get_lesson("bikes")
    store = at(home, tmp_path, "bikes", Stage.EXPLORE)
    roles.set_roles(store, "bikes", {"casual": "ignore"})
    leakage = svc.progress(store, lesson).of("leakage")
    assert leakage is not None and not leakage.done and leakage.evidence.startswith("registered")
    roles.set_roles(store, "bikes", {"registered": "ignore"})
    assert marks(store, lesson)["leakage"]


def test_a_flagged_batch_needs_a_decision(home: Path, tmp_path: Path) -> None:
    lesson = svc.get_lesson("bikes")
    store = at(home, tmp_path, "bikes", Stage.MONITOR)
    january = lesson_files("bikes", home).batches[0]
    batch = monitor.add_batch(store, january, label_column="cnt", key_column="instant")
    assert batch.status.value != "ok"
    drift = svc.progress(store, lesson).of("drift")
    assert drift is not None and not drift.done and "no decision yet" in drift.evidence
    monitor.decide(store, batch.id, "inspect", "looking at the temperature")
    drift = svc.progress(store, lesson).of("drift")
    assert drift is not None and drift.done and "decided: inspect" in drift.evidence


# -- hints and the lesson record ---------------------------------------------------------


def test_hints_come_one_at_a_time_and_are_recorded(home: Path, tmp_path: Path) -> None:
    lesson = svc.get_lesson("adult")
    store = at(home, tmp_path, "adult", Stage.PROBLEM)
    task = lesson.task("kpi")
    assert task is not None
    shown = [svc.next_hint(store, lesson, "kpi") for _ in range(len(task.hints) + 1)]
    assert [h.number for h in shown] == [1, 2, 3, 4, 4]
    assert shown[0].text == task.hints[0] and shown[-1].text == task.hints[-1]
    with store.connect() as con:
        row = con.execute(
            "SELECT count(*) FROM events WHERE stage = 'lesson' AND action = 'hint'"
        ).fetchone()
    assert row == (5,)
    with pytest.raises(MlwbError, match="no task 'nope'"):
        svc.next_hint(store, lesson, "nope")


def test_batch_folder_is_filled_into_the_texts(home: Path, tmp_path: Path) -> None:
    store = at(home, tmp_path, "adult", Stage.PROBLEM)
    record = svc.lesson_record(store)
    assert record is not None and record.name == "adult"
    folder = Path(svc.fill("{batches}", record))
    assert sorted(p.name for p in folder.iterdir()) == [
        "adult_mailing_list.csv",
        "adult_partner_list.csv",
    ]


def test_a_demo_project_is_recognised_and_other_projects_are_not(tmp_path: Path) -> None:
    demo = ProjectStore.create(tmp_path / "demo", DEMO_CHARTERS["bikes"]["name"])
    assert svc.require_lesson(demo)[0].name == "bikes"
    other = ProjectStore.create(tmp_path / "other", "Churn")
    with pytest.raises(MlwbError, match="not a lesson or demo project"):
        svc.require_lesson(other)


def test_lesson_data_keeps_the_batches_out_of_training(home: Path) -> None:
    source = (sample_data_dir() / "adult.csv").read_text().splitlines()
    adult = lesson_files("adult", home)
    train, mailing, partner = (p.read_text().splitlines() for p in [adult.train, *adult.batches])
    assert train == source[:26_001]
    assert mailing == [source[0], *source[26_001:29_001]]
    older = [line for line in source[29_001:] if line and int(line.split(",")[0]) >= 50]
    assert partner == [source[0], *older] and len(older) > 500
    bikes = lesson_files("bikes", home).train.read_text().splitlines()
    assert all(line.split(",")[1].startswith("2011-") for line in bikes[1:])
    assert len(bikes) == 8_645 + 1


# -- reset ---------------------------------------------------------------------------------


def test_reset_puts_the_project_at_a_stage_and_keeps_a_backup(home: Path, tmp_path: Path) -> None:
    project = lr.create_project("bikes", tmp_path / "learner", home)
    problem.save_charter(project, {**reference_charter("bikes"), "threshold": 0.5}, "mine")
    result = lr.reset(project.root, Stage.TRAIN, home)
    assert result.backup.parent == project.root.parent and result.backup.is_dir()
    assert result.backup.name.startswith("learner.backup-")
    mine = ProjectStore.open(result.backup)
    assert problem.current_charter(mine).charter.threshold == 0.5  # type: ignore[union-attr]
    reset_store = ProjectStore.open(project.root)
    found = marks(reset_store, svc.get_lesson("bikes"))
    assert [k for k, v in found.items() if v] == ["kpi", "instant-id", "profile", "leakage"]
    record = svc.lesson_record(reset_store)
    assert record is not None and record.name == "bikes"
    with reset_store.connect() as con:
        row = con.execute(
            "SELECT json_extract_string(details, '$.to'), json_extract_string(details, '$.backup')"
            " FROM events WHERE stage = 'lesson' AND action = 'reset'"
        ).fetchone()
    assert row == ("train", str(result.backup))


def test_a_failed_reset_changes_nothing(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = lr.create_project("bikes", tmp_path / "learner", home)
    problem.save_charter(project, reference_charter("bikes"), "mine")
    before = folder_digest(project.root)
    fresh = tmp_path / "empty-home"

    def broken(*args: object) -> None:
        raise MlwbError("the reference solution broke")

    monkeypatch.setattr(lr, "solve", broken)
    with pytest.raises(MlwbError, match="reference solution broke"):
        lr.reset(project.root, Stage.EXPLORE, fresh)
    monkeypatch.undo()

    def half_copy(source: Path, target: Path) -> None:
        target.mkdir()
        (target / "project.duckdb").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(lr, "_copy", half_copy)
    with pytest.raises(OSError, match="disk full"):
        lr.reset(project.root, Stage.DATA, home)
    assert folder_digest(project.root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty-home", "learner"]
    assert not list((fresh / "lesson-checkpoints" / "bikes").glob(".*building*"))


def test_reset_refuses_an_open_project_and_a_foreign_one(home: Path, tmp_path: Path) -> None:
    project = lr.create_project("bikes", tmp_path / "learner", home)
    presence = ProjectPresence(project.root)
    presence.hold()
    try:
        with pytest.raises(ProjectInUse, match="open in another mlwb process"):
            lr.reset(project.root, Stage.DATA, home)
    finally:
        presence.release()
    assert lr.reset(project.root, Stage.DATA, home).stage is Stage.DATA
    other = ProjectStore.create(tmp_path / "other", "Churn")
    with pytest.raises(MlwbError, match="not a lesson or demo project"):
        lr.reset(other.root, Stage.DATA, home)
    with pytest.raises(MlwbError, match="is not an mlwb project"):
        lr.reset(tmp_path / "nowhere", Stage.DATA, home)


def test_create_project_reopens_and_refuses_other_folders(home: Path, tmp_path: Path) -> None:
    first = lr.create_project("adult", tmp_path / "p", home)
    again = lr.create_project("adult", tmp_path / "p", home)
    assert again.root == first.root
    with pytest.raises(MlwbError, match="follows the 'adult' lesson"):
        lr.create_project("bikes", tmp_path / "p", home)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(MlwbError, match="not an mlwb project"):
        lr.create_project("adult", tmp_path / "full", home)
