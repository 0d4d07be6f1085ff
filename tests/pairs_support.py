"""A snapshot with rubric-scored responses, for the preference-pair tests."""

from __future__ import annotations

from rubricforge.models.judging.orm import JudgeMode, Judgment, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from training_support import judge_run, seed_snapshot


def judged_snapshot(engine: Engine, dataset: str = "med") -> tuple[int, list[int]]:
    """Snapshot of 2 prompts. Prompt 0: rewards 0.9, 0.4, 0.4 (run 1) -> 2 pairs, 1 tie.
    Prompt 1: 0.3 and 0.8 by run 1, then run 2 re-scores 0.3 -> 1.0 (newest counts) -> 1
    pair. Left out: a Likert judgment, a failed one, a rubric-check response, and a
    judgment under a version the snapshot did not freeze."""
    world = seed_snapshot(engine, dataset=dataset, prompts=2, criteria=2)
    p0, p1 = world.prompts
    explicit, implicit = judge_run(engine), judge_run(engine, mode=JudgeMode.implicit)
    likert = judge_run(engine, mode=JudgeMode.likert)
    with Session(engine) as s, s.begin():

        def resp(pid: int, text: str, **meta: bool) -> int:
            r = Response(prompt_id=pid, text=text, source="policy", content_hash=text,
                         author_model="qwen2.5-7b", meta=meta)  # fmt: skip
            s.add(r)
            s.flush()
            return r.id

        def judge(run: int, rid: int, vid: int | None, reward: float, ok: bool = True) -> None:
            s.add(Judgment(run_id=run, response_id=rid, rubric_version_id=vid, reward=reward,
                           ok=ok))  # fmt: skip
            s.flush()

        a, b, c = resp(p0.prompt_id, "A"), resp(p0.prompt_id, "B"), resp(p0.prompt_id, "C")
        judge(explicit, a, p0.version_id, 0.9)
        judge(explicit, b, p0.version_id, 0.4)
        judge(explicit, c, p0.version_id, 0.4)
        d, e = resp(p1.prompt_id, "D"), resp(p1.prompt_id, "E")
        judge(explicit, d, p1.version_id, 0.3)
        judge(explicit, e, p1.version_id, 0.8)
        judge(implicit, d, p1.version_id, 1.0)  # newer: D is chosen over E
        likert_only = resp(p0.prompt_id, "L")
        judge(likert, likert_only, p0.version_id, 1.0)
        failed = resp(p0.prompt_id, "F")
        judge(explicit, failed, p0.version_id, 0.0, ok=False)
        reference = resp(p0.prompt_id, "R", rubric_check=True)
        judge(explicit, reference, p0.version_id, 1.0)
        other_version = resp(p1.prompt_id, "V")
        judge(explicit, other_version, None, 0.0)
    return world.snapshot_id, [explicit, implicit]
