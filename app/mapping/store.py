"""Hot reload: the current compiled mappings of a directory, swapped only when all compile.

    store = MappingStore("mappings")                 # raises MappingLoadError if invalid
    store.current()["order_to_invoice"].apply(order)
    result = store.reload_if_changed()               # after editing a file
    await store.watch(stop_event, interval_s=2.0)    # or poll in the background

A reload recompiles changed files (by size/mtime, then content hash) and
replaces the whole set at once. If any file has a problem (or a golden case
fails, with `golden=True`), the previous versions stay current and the result
carries the problems. Plans already built keep the mapping version they
started with: their step payloads were computed at decomposition and record
`mapping_hash`, so a reload only affects plans built afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from revflow.aio import Beat, no_beat
from revflow.mapping.compiler import compile_mapping
from revflow.mapping.errors import MappingLoadError, Problem
from revflow.mapping.golden import run_golden
from revflow.mapping.lint import discover_files
from revflow.mapping.model import Mapping

__all__ = ["MappingStore", "ReloadResult"]

log = logging.getLogger(__name__)
Stamp = tuple[int, int]  # (mtime_ns, size)
Check = Callable[[dict[str, Mapping]], Awaitable[list[Problem]]]  # more problems, or []


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload did: `changed` when new versions became current, else `problems` why not."""

    changed: bool
    problems: list[Problem] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)  # name -> content hash now current

    @property
    def failed(self) -> bool:
        return bool(self.problems)

    def message(self) -> str:
        """One log line (plus one line per problem)."""
        kept = ", ".join(f"{n}@{h[:12]}" for n, h in sorted(self.versions.items()))
        if self.problems:
            lines = "\n".join(str(p) for p in self.problems)
            return f"mapping reload failed, keeping version(s) {kept or 'none'}:\n{lines}"
        if not self.changed:
            return "mappings unchanged"
        parts = [
            f"{what} {', '.join(names)}"
            for what, names in (("added", self.added), ("updated", self.updated),
                                ("removed", self.removed))
            if names
        ]  # fmt: skip
        return f"mappings reloaded ({'; '.join(parts)}): now {kept}"


class MappingStore:
    """The mappings of one directory, reloadable without restarting the service."""

    def __init__(self, directory: str | Path, *, golden: bool = False) -> None:
        self.directory = Path(directory)
        self.golden = golden
        self._current: dict[str, Mapping] = {}
        self._compiled: dict[tuple[Path, str], Mapping] = {}  # (file, content hash) -> mapping
        self._stamps: dict[Path, Stamp] = {}
        self.last_problems: list[Problem] = []
        result = self.reload_if_changed()
        if result.failed:
            raise MappingLoadError(result.problems)

    def current(self) -> dict[str, Mapping]:
        """Name -> compiled mapping; a fresh dict, safe to keep while reloads happen."""
        return dict(self._current)

    def versions(self) -> dict[str, str]:
        """Name -> content hash of the current versions."""
        return {name: m.content_hash for name, m in self._current.items()}

    def reload_if_changed(self) -> ReloadResult:
        """Recompile if files changed; keep the old set (and report why) on any problem."""
        staged = self.stage()
        return staged if isinstance(staged, ReloadResult) else self.commit(staged)

    def stage(self) -> ReloadResult | dict[str, Mapping]:
        """Recompile changed files: the candidate set to ``commit``, or the result when
        nothing changed or a file has a problem."""
        files, problems = discover_files([self.directory])
        stamps = {f: _stamp(f) for f in files}
        if stamps == self._stamps and self._current:
            return ReloadResult(False, versions=self.versions())
        self._stamps = stamps  # a broken edit is reported once, not on every poll
        candidate, found = self._compile(files)
        problems.extend(found)
        if not files and not problems:
            problems.append(Problem(str(self.directory), 1, 1, "", "no mapping files found"))
        if not problems and self.golden:
            problems.extend(self._golden(candidate))
        if problems:
            return self.commit(candidate, problems)
        return candidate

    def commit(
        self, candidate: dict[str, Mapping], problems: list[Problem] | None = None
    ) -> ReloadResult:
        """Make a staged set current, unless there are ``problems`` (then keep the old)."""
        if problems:
            self.last_problems = sorted(problems)
            return ReloadResult(False, self.last_problems, versions=self.versions())
        self.last_problems = []
        old = self._current
        added = sorted(candidate.keys() - old.keys())
        removed = sorted(old.keys() - candidate.keys())
        updated = sorted(
            n for n in candidate.keys() & old.keys()
            if candidate[n].content_hash != old[n].content_hash
        )  # fmt: skip
        changed = bool(added or removed or updated)
        if changed:
            self._current = candidate
        live = {(m.path, m.content_hash) for m in candidate.values() if m.path is not None}
        self._compiled = {k: v for k, v in self._compiled.items() if k in live}
        return ReloadResult(changed, [], added, updated, removed, self.versions())

    async def watch(
        self,
        stop: asyncio.Event,
        interval_s: float = 2.0,
        on_reload: Callable[[ReloadResult], None] | None = None,
        beat: Beat = no_beat,
        check: Check | None = None,
    ) -> None:
        """Poll every `interval_s` until `stop` is set; report reloads and failures.

        Compiling runs in a worker thread. Without `on_reload`, results are logged.
        `check` (e.g. the org check) sees each compiled set before it becomes current;
        its problems keep the old set.
        """
        report = on_reload or _log_result
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
                return
            except TimeoutError:
                pass
            try:
                staged = await asyncio.to_thread(self.stage)
                if isinstance(staged, ReloadResult):
                    result = staged
                else:
                    result = self.commit(staged, await check(staged) if check else None)
            except Exception:  # never let the watcher die; the next poll tries again
                log.exception("mapping reload crashed; keeping the current versions")
                self._stamps = {}  # so the next poll stages (and checks) the files again
                continue
            if result.changed or result.failed:
                report(result)
            beat()

    # -- helpers ------------------------------------------------------------------

    def _compile(self, files: list[Path]) -> tuple[dict[str, Mapping], list[Problem]]:
        out: dict[str, Mapping] = {}
        problems: list[Problem] = []
        for file in files:
            try:
                data = file.read_bytes()
            except OSError as exc:
                problems.append(Problem(str(file), 1, 1, "", f"cannot read: {exc.strerror}"))
                continue
            key = (file, hashlib.sha256(data).hexdigest())
            mapping = self._compiled.get(key)
            if mapping is None:
                try:
                    mapping = compile_mapping(data, str(file), path=file)
                except MappingLoadError as exc:
                    problems.extend(exc.problems)
                    continue
                self._compiled[key] = mapping
            first = out.setdefault(mapping.name, mapping)
            if first is not mapping:
                problems.append(
                    Problem(
                        mapping.filename, 1, 1, "name",
                        f"mapping name '{mapping.name}' is already used by {first.filename}",
                    )
                )  # fmt: skip
        return out, problems

    def _golden(self, candidate: dict[str, Mapping]) -> list[Problem]:
        return [
            Problem(r.file, r.line, 1, "", f"golden case '{r.name}' failed: {r.message}")
            for r in run_golden([self.directory], mappings=candidate)
            if not r.ok
        ]


def _stamp(file: Path) -> Stamp:
    try:
        info = file.stat()
    except OSError:
        return (-1, -1)
    return (info.st_mtime_ns, info.st_size)


def _log_result(result: ReloadResult) -> None:
    if result.failed:
        log.warning("%s", result.message())
    else:
        log.info("%s", result.message())
