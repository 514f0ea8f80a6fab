"""The server's side of the platform's verdicts: it remembers each answered picture (``--feedback-
store``: in a bounded cache until reported or expired) and stores the verdicts callers report,
durably, before acknowledging them; live accuracy per colour and version follows in the metrics.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from captcha_core.feedback import FeedbackStore, Live, Report, ReportConflict

from .answer_cache import AnswerCache, Pending
from .errors import FailedPrecondition, InvalidRequest, NotFound
from .metrics import Metrics

MAX_TEXT = 6


@dataclass(frozen=True)
class Outcome:
    stored: bool    # this call stored the report (False: the same report was stored before)
    verified: bool  # the picture now has a verified label


def new_answer_id() -> str:
    return secrets.token_urlsafe(18)


class Feedback:
    def __init__(self, store: FeedbackStore, ttl_s: float, max_bytes: int, metrics: Metrics):
        self.store, self.metrics = store, metrics
        self.cache = AnswerCache(ttl_s, max_bytes, on_drop=lambda reason: metrics.feedback_dropped.labels(reason).inc())
        for live in store.live():
            self._publish(live)

    def remember(self, answer_id: str, picture: bytes, answer) -> None:
        """Keeps ``answer`` (a ``server.plane.Answer``) of ``picture`` until its verdict comes or it expires."""
        self.cache.put(answer_id, Pending(picture, answer.color.label, answer.text, answer.confidence,
                                          answer.route.value, answer.model, answer.version, time.time(),
                                          answer.path_confidence, answer.reads, answer.agreeing))

    def report(self, answer_id: str, accepted: bool, submitted_text: str = "", charset=None) -> Outcome:
        """``charset``: the characters a submitted text may hold (None: any)."""
        submitted = check_text(submitted_text, charset)
        known = self.store.find(answer_id)
        if known is not None:
            if (known.accepted, known.submitted_text) != (accepted, submitted or known.answer.upper()):
                raise FailedPrecondition(f"answer {answer_id[:64]} was already reported "
                                         f"{'accepted' if known.accepted else 'rejected'} for "
                                         f"{known.submitted_text!r}; a different report is refused")
            return Outcome(False, known.verified)
        pending = self.cache.get(answer_id)
        if pending is None:
            if self.store.find(answer_id) is not None:  # reported by another call a moment ago
                return self.report(answer_id, accepted, submitted_text, charset)
            raise NotFound(f"answer {answer_id[:64]} is unknown or expired (answers are kept "
                           f"{self.cache.ttl_s:g} s for their verdict)")
        report = Report(answer_id, pending.picture, pending.color, pending.answer, pending.confidence, pending.route,
                        pending.model, pending.version, submitted or pending.answer, accepted,
                        path_confidence=pending.path_confidence, reads=pending.reads, agreeing=pending.agreeing)
        try:
            stored, verified = self.store.add(report)
        except ReportConflict as exc:  # another caller reported the same answer at the same moment
            raise FailedPrecondition(str(exc)) from None
        self.cache.pop(answer_id)
        if stored:
            self.metrics.reports.labels(pending.color, pending.model, str(pending.version),
                                        "accepted" if accepted else "rejected",
                                        "ours" if report.ours else "submitted").inc()
            if report.ours:
                self._publish(self.store.live_of(pending.color, pending.model, pending.version))
        return Outcome(stored, verified)

    def live(self) -> list[Live]:
        return self.store.live()

    def _publish(self, live: Live) -> None:
        self.metrics.live_accuracy.labels(live.color, live.model, str(live.version)).set(live.accuracy)

    def close(self) -> None:
        self.store.close()


def check_text(text: str, charset) -> str:
    """A submitted text, upper-cased as the platform compares it; INVALID_ARGUMENT when longer than
    six characters or holding one the model cannot output."""
    text = (text or "").upper()
    if len(text) > MAX_TEXT:
        raise InvalidRequest(f"submitted_text has {len(text)} characters; at most {MAX_TEXT}")
    if charset is not None:
        unknown = sorted({c for c in text if c not in charset})
        if unknown:
            raise InvalidRequest(f"submitted_text holds characters the model cannot read: {''.join(unknown)!r}")
    return text
