"""The client-side tally: what the load generator saw, to reconcile with the simulator's ledger.

Counts submits by status, receipts by state and by message id (duplicates show as counts > 1).
Mergeable, and able to hand over only what changed since last time (for Locust's worker reports).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any


class Tally:
    def __init__(self) -> None:
        self.submitted = 0  # submit_sm written to a socket (answered or not): the volume evidence
        self.submits: Counter[str] = Counter()  # by status name; "LOST" when the link died first
        self.segments_acked = 0
        self.acked: set[str] = set()  # message ids acknowledged with ESME_ROK
        self.receipts: Counter[str] = Counter()  # final receipts by stat
        self.receipt_ids: Counter[str] = Counter()  # final receipts per message id
        self.intermediate = 0
        self.mo = 0
        self.rebinds = 0
        self.bind_failures: Counter[str] = Counter()
        self.user_errors: Counter[str] = Counter()  # exceptions raised by Locust users, by type
        self.first_error = ""  # the first such exception's traceback
        self._delta = _Delta()  # what changed since the last take_delta()

    # ------------------------------------------------------------------ recording
    def submit_answered(self, status: str, message_id: str | None, segments: int = 1) -> None:
        self.submits[status] += 1
        self._delta.submits[status] += 1
        if message_id is not None:
            self.acked.add(message_id)
            self._delta.acked.append(message_id)
            self.segments_acked += segments
            self._delta.segments_acked += segments

    def submits_accepted(self, message_ids: list[str]) -> None:
        """Many submit_sm answered ESME_ROK (one segment each): submit_answered in one go."""
        n = len(message_ids)
        delta = self._delta
        self.submits["ESME_ROK"] += n
        delta.submits["ESME_ROK"] += n
        self.acked.update(message_ids)
        delta.acked.extend(message_ids)
        self.segments_acked += n
        delta.segments_acked += n

    def count_submitted(self, n: int) -> None:
        self.submitted += n
        self._delta.submitted += n

    def user_error(self, kind: str, traceback_text: str) -> None:
        self.user_errors[kind] += 1
        self._delta.user_errors[kind] += 1
        if not self.first_error:
            self.first_error = self._delta.first_error = traceback_text

    def receipt(self, message_id: str, stat: str) -> None:
        # dict.get, not Counter's `+= 1`: a new id would go through Counter.__missing__ (Python code)
        delta = self._delta
        self.receipts[stat] += 1
        ids = self.receipt_ids
        ids[message_id] = ids.get(message_id, 0) + 1
        delta.receipts[stat] += 1
        ids = delta.receipt_ids
        ids[message_id] = ids.get(message_id, 0) + 1

    def count(self, what: str, key: str | None = None) -> None:
        """intermediate / mo / rebinds, or bind_failures with the status name as key."""
        if what == "bind_failures":
            self.bind_failures[key or "?"] += 1
            self._delta.bind_failures[key or "?"] += 1
        else:
            setattr(self, what, getattr(self, what) + 1)
            setattr(self._delta, what, getattr(self._delta, what) + 1)

    # ------------------------------------------------------------------ merging
    def to_dict(self) -> dict[str, Any]:
        return {
            "submitted": self.submitted,
            "submits": dict(self.submits),
            "segments_acked": self.segments_acked,
            "acked": sorted(self.acked),
            "receipts": dict(self.receipts),
            "receipt_ids": dict(self.receipt_ids),
            "intermediate": self.intermediate,
            "mo": self.mo,
            "rebinds": self.rebinds,
            "bind_failures": dict(self.bind_failures),
            "user_errors": dict(self.user_errors),
            "first_error": self.first_error,
        }

    def merge(self, data: dict[str, Any]) -> None:
        self.submits.update(data.get("submits", {}))
        self.segments_acked += data.get("segments_acked", 0)
        self.acked.update(data.get("acked", ()))
        self.receipts.update(data.get("receipts", {}))
        self.receipt_ids.update(data.get("receipt_ids", {}))
        self.intermediate += data.get("intermediate", 0)
        self.mo += data.get("mo", 0)
        self.rebinds += data.get("rebinds", 0)
        self.bind_failures.update(data.get("bind_failures", {}))
        self.submitted += data.get("submitted", 0)
        self.user_errors.update(data.get("user_errors", {}))
        if not self.first_error:
            self.first_error = data.get("first_error", "")

    def take_delta(self) -> dict[str, Any]:
        """What changed since the last call, in merge() form; cheap (no copy of what was sent)."""
        delta, self._delta = self._delta, _Delta()
        return delta.to_dict()

    # ------------------------------------------------------------------ summaries
    @property
    def duplicate_receipts(self) -> dict[str, int]:
        return {k: v for k, v in self.receipt_ids.items() if v > 1}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> "Tally":
        tally = cls()
        tally.merge(json.loads(Path(path).read_text()))
        return tally


class _Delta:
    __slots__ = ("submitted", "user_errors", "first_error", "submits", "segments_acked", "acked", "receipts",
                 "receipt_ids", "intermediate", "mo", "rebinds", "bind_failures")

    def __init__(self) -> None:
        self.submitted = 0
        self.user_errors: Counter[str] = Counter()
        self.first_error = ""
        self.submits: Counter[str] = Counter()
        self.segments_acked = 0
        self.acked: list[str] = []
        self.receipts: Counter[str] = Counter()
        self.receipt_ids: Counter[str] = Counter()
        self.intermediate = self.mo = self.rebinds = 0
        self.bind_failures: Counter[str] = Counter()

    def to_dict(self) -> dict[str, Any]:
        return {
            "submitted": self.submitted,
            "submits": dict(self.submits), "segments_acked": self.segments_acked, "acked": self.acked,
            "receipts": dict(self.receipts), "receipt_ids": dict(self.receipt_ids),
            "intermediate": self.intermediate, "mo": self.mo, "rebinds": self.rebinds,
            "bind_failures": dict(self.bind_failures),
            "user_errors": dict(self.user_errors), "first_error": self.first_error,
        }  # fmt: skip
