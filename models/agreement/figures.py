"""The dashboard's figures for filtered labels, in three parts a page asks for
separately: the headline (every visit), the breakdowns (the Breakdowns tab, the
flag list) and the whole-response figures (the Confusion tab). An annotator's
visit to their own drill-down then computes no breakdown and no response
bootstrap, which were most of a first visit's time after any write.

Each part is memoized on the digest of the rows it is computed from and its
arguments (`models.agreement.memo`); `agreement_report` puts the three together
(the CLI and the benches), sharing the parts' memo. The headline and the
breakdowns of one page run start from the same frame: its digest and its split
(`report.prepare`, the consensus) are made once for it (`_of_frame`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd
from rubricforge.models.agreement.memo import frames_digest, memoized
from rubricforge.models.agreement.queries import (
    MIN_LABELS,
    AgreementFilters,
    pairs_or_read,
    response_pairs,
)
from rubricforge.models.agreement.report import (
    THRESHOLD,
    AgreementReport,
    Breakdowns,
    Headline,
    Prepared,
    ResponseFigures,
    build_breakdowns,
    build_headline,
    build_responses,
    prepare,
)
from rubricforge.models.agreement.stats import LEVEL, N_BOOT, SEED
from sqlalchemy.orm import Session

T = TypeVar("T")
# The last frame a part was computed from, and what was derived from it: a page
# run passes the same frame to the headline and the breakdowns.
_last: tuple[weakref.ref[pd.DataFrame], dict[str, Any]] | None = None
_last_lock = threading.Lock()


def _of_frame(frame: pd.DataFrame, what: str, make: Callable[[pd.DataFrame], T]) -> T:
    """make(frame), made once for this very frame object (the latest one only)."""
    global _last
    with _last_lock:
        derived = _last[1] if _last is not None and _last[0]() is frame else None
        if derived is None:
            derived = {}
            _last = (weakref.ref(frame), derived)
    if what not in derived:
        derived[what] = make(frame)
    return derived[what]  # type: ignore[no-any-return]


def _digest(frame: pd.DataFrame) -> str:
    return _of_frame(frame, "digest", frames_digest)


def _split(frame: pd.DataFrame) -> Prepared:
    return _of_frame(frame, "prepared", prepare)


def agreement_headline(
    session: Session,
    *,
    filters: AgreementFilters | None = None,
    pairs: pd.DataFrame | None = None,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> Headline:
    """Counts, overall agreement and alpha. `pairs`: criterion_pairs(session,
    filters) when the caller has read them already."""
    rows = pairs_or_read(session, filters, pairs)
    return memoized(
        ("agreement_headline", _digest(rows), n_boot, seed, level),
        lambda: build_headline(_split(rows), n_boot=n_boot, seed=seed, level=level),
    )


def agreement_breakdowns(
    session: Session,
    *,
    filters: AgreementFilters | None = None,
    min_labels: int = MIN_LABELS,
    pairs: pd.DataFrame | None = None,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> Breakdowns:
    """Per judge, category, dataset, annotator, criterion and prompt."""
    rows = pairs_or_read(session, filters, pairs)
    return memoized(
        ("agreement_breakdowns", _digest(rows), min_labels, n_boot, seed, level),
        lambda: build_breakdowns(
            _split(rows), min_labels=min_labels, n_boot=n_boot, seed=seed, level=level
        ),
    )


def agreement_responses(
    session: Session,
    *,
    filters: AgreementFilters | None = None,
    threshold: float = THRESHOLD,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> ResponseFigures:
    """Whole responses: judge reward against the human score."""
    rows = response_pairs(session, filters or AgreementFilters())
    return memoized(
        ("agreement_responses", frames_digest(rows), threshold, n_boot, seed, level),
        lambda: build_responses(rows, threshold=threshold, n_boot=n_boot, seed=seed, level=level),
    )


def agreement_report(
    session: Session,
    *,
    filters: AgreementFilters | None = None,
    min_labels: int = MIN_LABELS,
    threshold: float = THRESHOLD,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
    pairs: pd.DataFrame | None = None,
) -> AgreementReport:
    """Every dashboard figure for the filtered labels (two queries, then pure code,
    each part skipped when its rows and arguments are those of a recent call)."""
    filters = filters or AgreementFilters()
    pairs = pairs_or_read(session, filters, pairs)
    boot: dict[str, Any] = dict(n_boot=n_boot, seed=seed, level=level)
    return AgreementReport.of(
        agreement_headline(session, pairs=pairs, **boot),
        agreement_breakdowns(session, pairs=pairs, min_labels=min_labels, **boot),
        agreement_responses(session, filters=filters, threshold=threshold, **boot),
    )
