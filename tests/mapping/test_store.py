"""MappingStore: hot reload keeps the old versions when a new one is broken."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from revflow.mapping import MappingLoadError
from revflow.mapping.errors import Problem
from revflow.mapping.model import Mapping
from revflow.mapping.store import MappingStore, ReloadResult

GOOD = "name: {name}\nsource: Order\ntarget: t\nfields:\n  id: Id\n  v: {{ value: {v} }}\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    stamp = path.stat().st_mtime_ns + 1_000_000_000  # a new mtime even on coarse clocks
    os.utime(path, ns=(stamp, stamp))
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    write(tmp_path / "a.yaml", GOOD.format(name="a", v=1))
    write(tmp_path / "b.yaml", GOOD.format(name="b", v=1))
    return tmp_path


def test_initial_load_and_no_change(folder: Path) -> None:
    store = MappingStore(folder)
    assert sorted(store.current()) == ["a", "b"]
    result = store.reload_if_changed()
    assert not result.changed and not result.failed
    assert result.message() == "mappings unchanged"


def test_initial_load_fails_like_load_directory(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "name: [\n")
    with pytest.raises(MappingLoadError):
        MappingStore(tmp_path)
    with pytest.raises(MappingLoadError, match="no such file or directory"):
        MappingStore(tmp_path / "missing")


def test_reload_swaps_changed_added_and_removed(folder: Path) -> None:
    store = MappingStore(folder)
    before = store.current()
    write(folder / "a.yaml", GOOD.format(name="a", v=2))
    write(folder / "c.yaml", GOOD.format(name="c", v=1))
    (folder / "b.yaml").unlink()
    result = store.reload_if_changed()
    assert (result.changed, result.added, result.updated, result.removed) == (
        True,
        ["c"],
        ["a"],
        ["b"],
    )
    assert store.current()["a"].apply({"Id": "1"}) == {"id": "1", "v": 2}
    assert before["a"].apply({"Id": "1"}) == {"id": "1", "v": 1}  # old objects keep working
    assert result.versions == store.versions()
    assert result.message().startswith("mappings reloaded (added c; updated a; removed b): now a@")


def test_touch_without_content_change_is_not_a_reload(folder: Path) -> None:
    store = MappingStore(folder)
    write(folder / "a.yaml", (folder / "a.yaml").read_text())
    assert not store.reload_if_changed().changed


def test_broken_edit_keeps_the_old_versions(folder: Path) -> None:
    store = MappingStore(folder)
    old_hash = store.versions()["a"]
    write(folder / "a.yaml", GOOD.format(name="a", v=2))
    write(folder / "b.yaml", "name: b\nsource: Order\ntarget: t\nfields:\n  id: {pth: Id}\n")
    result = store.reload_if_changed()
    assert result.failed and not result.changed
    assert store.versions()["a"] == old_hash  # all or nothing
    assert [str(p) for p in result.problems] == [
        f"{folder / 'b.yaml'}:5:3: field 'id' needs one of path, value, format, expr, "
        "lookup_record, fields, each",
        f"{folder / 'b.yaml'}:5:8: unknown key in field 'id' 'pth' (did you mean 'path'?)",
    ]
    message = result.message()
    assert message.startswith(f"mapping reload failed, keeping version(s) a@{old_hash[:12]}, b@")
    assert f"{folder / 'b.yaml'}:5:" in message
    assert store.last_problems == result.problems
    # the same broken files are not reported again on the next poll
    assert not store.reload_if_changed().failed
    write(folder / "b.yaml", GOOD.format(name="b", v=3))
    fixed = store.reload_if_changed()
    assert fixed.changed and fixed.updated == ["a", "b"]


def test_duplicate_names_and_empty_folder_are_rejected(folder: Path) -> None:
    store = MappingStore(folder)
    write(folder / "b.yaml", GOOD.format(name="a", v=1))
    assert "mapping name 'a' is already used" in store.reload_if_changed().message()
    for file in folder.glob("*.yaml"):
        file.unlink()
    result = store.reload_if_changed()
    assert [p.message for p in result.problems] == ["no mapping files found"]
    assert sorted(store.current()) == ["a", "b"]


def test_golden_cases_gate_a_reload(folder: Path) -> None:
    write(
        folder / "a.test.yaml",
        "cases:\n  - {name: v is 1, input: {Id: x}, expect: {id: x, v: 1}}\n",
    )
    store = MappingStore(folder, golden=True)
    write(folder / "a.yaml", GOOD.format(name="a", v=2))
    result = store.reload_if_changed()
    assert result.failed
    assert "golden case 'v is 1' failed: v: expected 1, got 2" in result.message()
    assert store.current()["a"].apply({"Id": "x"})["v"] == 1


async def test_watch_reports_reloads_until_stopped(folder: Path) -> None:
    store = MappingStore(folder)
    seen: list[ReloadResult] = []
    stop = asyncio.Event()
    task = asyncio.create_task(store.watch(stop, interval_s=0.01, on_reload=seen.append))
    write(folder / "a.yaml", GOOD.format(name="a", v=5))
    for _ in range(500):
        if seen:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert seen and seen[0].updated == ["a"]
    assert store.current()["a"].apply({"Id": "1"})["v"] == 5


async def test_watch_logs_without_callback(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = MappingStore(folder)
    stop = asyncio.Event()
    task = asyncio.create_task(store.watch(stop, interval_s=0.01))
    write(folder / "a.yaml", "name: [\n")
    for _ in range(500):
        if "reload failed" in caplog.text:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert "mapping reload failed, keeping version(s) a@" in caplog.text


async def test_watch_check_gates_a_reload_and_a_crashed_check_is_retried(folder: Path) -> None:
    """The check (the org check in the service) sees the compiled set first: its problems
    keep the old versions; when it crashes (the org did not answer) the same files are
    staged and checked again on the next poll."""
    store = MappingStore(folder)
    seen: list[ReloadResult] = []
    answers: list[object] = [RuntimeError("org unreachable"), ["refused"], []]
    checked: list[int] = []

    async def check(candidate: dict[str, Mapping]) -> list[Problem]:
        checked.append(candidate["a"].apply({"Id": "1"})["v"])
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return [Problem(str(folder / "a.yaml"), 6, 3, "v", str(m)) for m in answer]  # type: ignore[attr-defined]

    stop = asyncio.Event()
    task = asyncio.create_task(
        store.watch(stop, interval_s=0.01, on_reload=seen.append, check=check)
    )
    write(folder / "a.yaml", GOOD.format(name="a", v=7))
    for _ in range(500):
        if seen and seen[-1].failed:
            break
        await asyncio.sleep(0.01)
    assert store.current()["a"].apply({"Id": "1"})["v"] == 1  # refused: the old one stays
    assert seen[-1].problems[0].message == "refused"
    write(folder / "a.yaml", GOOD.format(name="a", v=8))
    for _ in range(500):
        if seen[-1].changed:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert checked == [7, 7, 8]  # the crashed check was repeated for the same edit
    assert store.current()["a"].apply({"Id": "1"})["v"] == 8
