"""Check the audit chain: every hash, every link, no gap, the head, optional anchors.

An anchor (``seq:hash``, e.g. the head noted after a previous run, or a line from the
SIEM) catches what the chain alone cannot: someone who rewrote every hash after an
edit.  Export regularly, and keep the last head somewhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.audit import repository
from revflow.audit.chain import GENESIS, entry_hash

PAGE = 1000


@dataclass
class Verdict:
    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_anchor(text: str) -> tuple[int, str]:
    """``"<seq>:<hash>"`` -> (seq, hash); ValueError says what is wrong."""
    seq, sep, digest = text.partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64:
        raise ValueError(f"anchor {text!r} is not <seq>:<64 hex digits>")
    return int(seq), digest.lower()


async def verify(s: AsyncSession, anchors: dict[int, str] | None = None) -> Verdict:
    out = Verdict()
    anchors = dict(anchors or {})
    expected, prev = 1, GENESIS
    while batch := await repository.page(s, expected - 1, PAGE):
        for e in batch:
            assert e.seq is not None and e.hash is not None  # page() reads sealed entries
            out.entries += 1
            if e.seq != expected:
                out.problems.append(
                    f"entries seq {expected}..{e.seq - 1} are missing (deleted)"
                    if e.seq > expected + 1
                    else f"entry seq {expected} is missing (deleted)"
                )
            elif e.prev_hash != prev:
                out.problems.append(
                    f"entry seq {e.seq} (id {e.id}) does not link to seq {e.seq - 1}"
                )
            if entry_hash(e.prev_hash or "", e.seq, e) != e.hash:
                out.problems.append(f"entry seq {e.seq} (id {e.id}) was altered")
            want = anchors.pop(e.seq, None)
            if want is not None and want != e.hash:
                out.problems.append(f"entry seq {e.seq} does not match its anchor")
            expected, prev = e.seq + 1, e.hash
    last = expected - 1
    for seq in sorted(anchors):
        out.problems.append(f"entry seq {seq} of an anchor is missing (deleted)")
    head = await repository.head(s)
    if head is None:
        out.problems.append("the chain head (audit_chain_head) is missing")
    else:
        out.head_seq, out.head_hash = head.seq, head.hash
        if head.seq > last:
            gone = f"seq {last + 1}..{head.seq}" if head.seq > last + 1 else f"seq {head.seq}"
            out.problems.append(f"the newest entries ({gone}) are missing (deleted)")
        elif (head.seq, head.hash) != (last, prev):
            out.problems.append(f"the chain head does not match the newest entry (seq {last})")
    for entry_id in await repository.unsealed_ids(s):
        out.problems.append(f"entry id {entry_id} has no chain link (written around the log)")
    return out
