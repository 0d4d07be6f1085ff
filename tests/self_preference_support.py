"""A judged world for the self-preference check: two explicit judges, responses of
known and unknown authors, human labels. The counts are in `build`'s docstring."""

from __future__ import annotations

from judged_world import ESS, PIT, World, make_world
from rubricforge.models.judging.orm import JudgeMode
from sqlalchemy.orm import Session

GPT = "gpt-4o-mini-2024-07-18"
QWEN = "qwen2.5-72b-instruct"


def build(session: Session) -> World:
    """Criteria: c0 Essential (good when met), c1 Pitfall (bad when met). An item the
    humans find unfavourable is c0 not met or c1 met; the judge errs when it says the
    favourable thing there.

    gpt-4o judge (gpt-4o-mini-2024-07-18), newest run:
      own (gpt-4o authors): r1 c0 F->T (FP), r1 c1 T->F (FP), r2 c0 F->F: 2/3
        (r2 c1 is favourable to humans, so the judge's T there is no false positive)
      other (qwen authors): r3 c0 F->T (FP), r3 c1 T->T, r4 c0 F->F, r4 c1 T->T: 1/4
      unknown author: r5 c0, left out and counted
      ratio (2/3) / (1/4) = 8/3
    qwen judge (qwen2.5-72b-instruct): own r3 c0 FP, r3 c1 correct: 1/2; other r1 c0,
      r1 c1 both correct: 0/2; ratio undefined (no false positive on others).
    """
    w = make_world(session)
    ann, adj = w.users["ann"], w.users["erin"]
    p = w.prompt("med", [ESS, PIT], author=w.users["erin"])
    c0, c1 = p.criteria
    r1 = w.response(p.prompt_id, "r1", "a", "gpt-4o-2024-08-06")
    r2 = w.response(p.prompt_id, "r2", "b", "openai/gpt-4o")
    r3 = w.response(p.prompt_id, "r3", "c", "Qwen/Qwen2.5-7B")
    r4 = w.response(p.prompt_id, "r4", "d", "qwen2.5-14b-instruct")
    r5 = w.response(p.prompt_id, "r5", "e")  # author unknown
    human = {
        (r1, c0): False, (r1, c1): True, (r2, c0): True, (r2, c1): False,
        (r3, c0): False, (r3, c1): True, (r4, c0): False, (r4, c1): True,
        (r5, c0): False, (r5, c1): False,
    }  # fmt: skip
    for (rid, cid), met in human.items():
        w.label(ann, rid, cid, met)
    # An adjudication overrules the annotator: r2 c0 is not met after all.
    w.label(adj, r2, c0, False, adjudication=True)
    gpt = GPT
    old = w.run(gpt, JudgeMode.explicit)
    new = w.run(gpt, JudgeMode.explicit)
    # The older run said "favourable" everywhere; only the newest run counts.
    for rid in (r1, r2, r3, r4, r5):
        w.judge(old, rid, verdicts={c0: True, c1: False})
    judged = {
        r1: {c0: True, c1: False}, r2: {c0: False, c1: True}, r3: {c0: True, c1: True},
        r4: {c0: False, c1: True}, r5: {c0: True, c1: False},
    }  # fmt: skip
    for rid, verdicts in judged.items():
        w.judge(new, rid, verdicts=verdicts)
    qwen = w.run(QWEN, JudgeMode.explicit)
    w.judge(qwen, r1, verdicts={c0: False, c1: True})
    w.judge(qwen, r3, verdicts={c0: True, c1: True})
    implicit = w.run(gpt, JudgeMode.implicit)  # no verdicts: takes no part
    w.judge(implicit, r1, reward=1.0)
    session.flush()
    return w
