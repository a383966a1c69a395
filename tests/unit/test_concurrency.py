"""Two processes on one project, kill -9 in the middle of writes, read-only folders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.errors import ProjectInUse, ProjectReadOnly
from app.services import problem
from storage import repositories as repo
from storage.artifacts import TEMP_PREFIX, atomic_path, write_bytes_atomic
from storage.db import ProjectStore

MLWB = [sys.executable, "-m", "app"]
ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


@pytest.fixture
def holder(store: ProjectStore) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the project database open until told to write and exit."""
    code = textwrap.dedent(
        """
        import sys, duckdb
        con = duckdb.connect(sys.argv[1])
        print("ready", flush=True)
        sys.stdin.readline()
        con.execute("INSERT INTO events (stage, action, summary, details) VALUES ('x', 'held', 'held', '{}')")
        con.close()
        print("wrote", flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(store.db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


def test_busy_project_gives_up_naming_the_other_process(
    store: ProjectStore, holder: subprocess.Popen[str]
) -> None:
    waiting = ProjectStore(store.root, lock_wait=0.3)
    with pytest.raises(ProjectInUse) as info, waiting.connect():
        pass
    assert (
        info.value.message == f"this project is in use by another mlwb process (pid {holder.pid})"
    )
    assert "gave up after 0.3 s" in info.value.hint
    # The holder is unharmed: it can still write and finish.
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("go\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "wrote"
    holder.wait(timeout=10)
    with store.connect() as con:
        assert [e.action for e in repo.list_events(con)][0] == "held"


def test_cli_on_busy_project_prints_one_line(
    store: ProjectStore, holder: subprocess.Popen[str]
) -> None:
    result = subprocess.run(
        [*MLWB, "status", "--project", str(store.root)],
        capture_output=True,
        text=True,
        env=_env(MLWB_LOCK_WAIT="0.3"),
        cwd=ROOT,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"error: this project is in use by another mlwb process (pid {holder.pid})"
    )
    assert "Traceback" not in result.stderr


def test_reader_and_cli_writer_take_turns(
    store: ProjectStore, charter_data: dict[str, Any]
) -> None:
    """A process polling the project (as the TUI does) does not stop a CLI save."""
    poller = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys, time
                from pathlib import Path
                from app.services.lifecycle import stage_statuses
                from storage.db import ProjectStore
                store = ProjectStore.open(Path(sys.argv[1]))
                end = time.monotonic() + 3
                n = 0
                while time.monotonic() < end:
                    stage_statuses(store)
                    n += 1
                print(n)
                """
            ),
            str(store.root),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    charter_file = store.root.parent / "c.json"
    charter_file.write_text(json.dumps(charter_data))
    result = subprocess.run(
        [*MLWB, "problem", "set", "--project", str(store.root), "--from", str(charter_file)],
        capture_output=True,
        text=True,
        env=_env(MLWB_LOCK_WAIT="5"),
        cwd=ROOT,
    )
    polls, _ = poller.communicate(timeout=30)
    assert result.returncode == 0, result.stderr
    assert int(polls) > 10
    assert problem.current_charter(store).version == 1


WRITER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from app.services import problem
    from app.services.demo import DEMO_CHARTERS
    from storage.artifacts import write_bytes_atomic
    from storage.db import ProjectStore
    store = ProjectStore.open(Path(sys.argv[1]))
    base = DEMO_CHARTERS["adult"]
    i = int(sys.argv[2])
    print("started", flush=True)
    while True:
        i += 1
        problem.save_charter(store, base | {"threshold": 0.5 + (i % 400) / 1000, "notes": "n" * 20000})
        blob = json.dumps({"i": i, "pad": "y" * 400000}).encode()
        write_bytes_atomic(store.artifacts / f"model-{i % 3}.json", blob)
    """
)


@pytest.mark.parametrize("delays", [(0.2, 0.45, 0.8)])
def test_kill_9_mid_write_leaves_a_consistent_project(
    store: ProjectStore, delays: tuple[float, ...]
) -> None:
    for round_number, delay in enumerate(delays):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store.root), str(round_number * 1000)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reopened = ProjectStore.open(store.root)
        with reopened.connect() as con:
            charters = [
                r[0] for r in con.execute("SELECT version FROM charters ORDER BY 1").fetchall()
            ]
            saved_events = sorted(
                json.loads(r[0])["version"]
                for r in con.execute(
                    "SELECT details FROM events WHERE action = 'charter_saved'"
                ).fetchall()
            )
        assert charters == list(range(1, len(charters) + 1))
        assert saved_events == charters
        assert len(charters) > 0
        for path in reopened.artifacts.iterdir():
            assert not path.name.startswith(TEMP_PREFIX), "a stale temporary survived reopening"
            assert json.loads(path.read_bytes())["pad"] == "y" * 400000
        status = subprocess.run(
            [*MLWB, "status", "--project", str(store.root)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert status.returncode == 0, status.stderr


def test_atomic_write_failure_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "artifacts" / "model.bin"
    write_bytes_atomic(target, b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("crash")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["model.bin"]


def _as_unprivileged(action: Callable[[], str]) -> str:
    """Run ``action`` in a forked child without root rights; return what it reports."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            report = action()
        except BaseException as exc:  # report everything to the parent
            report = f"{type(exc).__name__}: {exc}"
        os.write(write_end, report.encode())
        os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder outside root-only pytest dirs, so an unprivileged child can reach it."""
    path = Path(tempfile.mkdtemp(prefix="mlwb-ro-"))
    path.chmod(0o755)
    yield path
    for sub in [path, *path.rglob("*")]:
        sub.chmod(0o755 if sub.is_dir() else 0o644)
    shutil.rmtree(path)


def test_new_project_in_read_only_folder(shared_dir: Path) -> None:
    locked = shared_dir / "locked"
    locked.mkdir()
    locked.chmod(0o555)

    def create() -> str:
        try:
            ProjectStore.create(locked / "proj", "x")
        except ProjectReadOnly as exc:
            return exc.one_line()
        return "created"

    report = _as_unprivileged(create)
    assert report.startswith(f"cannot create {locked / 'proj'}: Permission denied")
    assert "choose a folder you can write to" in report
    assert list(locked.iterdir()) == []


def test_read_only_project_reads_but_refuses_writes(
    shared_dir: Path, charter_data: dict[str, Any]
) -> None:
    store = ProjectStore.create(shared_dir / "proj", "x")
    problem.save_charter(store, charter_data)
    before = store.db_path.read_bytes()
    for path in [store.root, *store.root.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)

    def read_then_write() -> str:
        opened = ProjectStore.open(store.root)
        version = problem.current_charter(opened).version
        try:
            problem.save_charter(opened, charter_data | {"threshold": 0.9})
        except ProjectReadOnly as exc:
            return f"read v{version}; {exc.message}"
        return "wrote"

    report = _as_unprivileged(read_then_write)
    assert report == "read v1; this project is read-only here: the change was not saved"
    assert store.db_path.read_bytes() == before
