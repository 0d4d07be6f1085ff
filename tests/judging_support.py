"""A judged world for the judging pages' tests (AppTest and browser): two prompts,
four criteria each, two responses per prompt, one explicit judge run and,
optionally, a drawn spot-check queue; committed, so the app under test sees it."""

from __future__ import annotations

from dataclasses import dataclass

from judged_world import ESS, IMP, OPT, PIT, PromptInfo, World, make_world
from rubricforge.models.agreement.sampling import QueueSpec
from rubricforge.models.agreement.spotcheck import create_queue
from rubricforge.models.judging.orm import JudgeMode
from sqlalchemy import Engine
from sqlalchemy.orm import Session

SECRET = "RATIONALE-SECRET"  # every verdict's rationale starts with it


@dataclass(frozen=True)
class Judged:
    world: World  # its session is closed: give it a new one to add rows
    prompts: list[PromptInfo]
    responses: list[int]
    run: int
    queue: int | None

    def uid(self, name: str) -> int:
        user_id = self.world.users[name].id
        assert user_id is not None
        return user_id


def judged(engine: Engine, *, queue_size: int = 0, per_item: int = 1) -> Judged:
    """The judge calls the criteria at even positions (Essential, Optional) met and the
    others (Important, Pitfall) not met, on every response, with rationale SECRET."""
    with Session(engine) as s, s.begin():
        w = make_world(s)
        prompts = [w.prompt("med", [ESS, IMP, OPT, PIT], author=w.users["erin"]) for _ in "ab"]
        run = w.run("judge-a", JudgeMode.explicit, tokens_in=4000, tokens_out=800, cost_usd=0.02)
        responses = []
        for p in prompts:
            for k in range(2):
                r = w.response(p.prompt_id, f"Answer {k} to prompt {p.prompt_id}: give fluids.")
                verdicts: dict[int, bool | None] = {c: i % 2 == 0 for i, c in enumerate(p.criteria)}
                w.judge(run, r, version_id=p.version_id, verdicts=verdicts, reward=0.6,
                        rationale=SECRET)  # fmt: skip
                responses.append(r)
        queue = None
        if queue_size:
            spec = QueueSpec(name="pilot", size=queue_size, labels_per_item=per_item)
            queue = create_queue(s, w.users["erin"], spec).id
    return Judged(w, prompts, responses, run, queue)
