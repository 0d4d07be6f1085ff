"""A scripted policy and judge for the evaluation tests, on one scripted server.

Policies are told apart by model name ('base', 'trained'): each answers
'<policy> answer <prompt>'. The judge (model 'judge-m') reads that answer back
and replies from JUDGED: the explicit verdicts (rubrics of 4 criteria: Essential
5, Important 3, Optional 1, Pitfall -2) when it is shown the rubric, the 1-10
rating of the rubric-free (Direct-Likert) judge when it is not.
"""

from __future__ import annotations

import re
from typing import Any

from llm_server import Reply, ScriptedLLM
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.training.config import JudgeSpec
from rubricforge.models.training.evaluation import EndpointPolicy
from training_support import JUDGE_MODEL

T, F = True, False
# (policy, prompt) -> (verdicts met [E, I, O, P], Likert rating)
JUDGED: dict[tuple[str, int], tuple[list[bool], int]] = {
    ("base", 0): ([T, T, T, F], 10),  # RaR reward 11/11, Likert 1
    ("base", 1): ([T, F, F, T], 4),  # 5/11, 1/3
    ("base", 2): ([F, F, F, F], 1),  # 2/11, 0
    ("trained", 0): ([T, T, T, F], 10),  # 11/11, 1
    ("trained", 1): ([T, T, T, F], 7),  # 11/11, 2/3
    ("trained", 2): ([T, F, F, F], 4),  # 7/11, 1/3
}
ANSWER = re.compile(r"(\w+) answer (\d+)")


class EvalScript:
    def __init__(self, server: ScriptedLLM, fail: set[tuple[str, int]] | None = None):
        self.server = server
        self.fail = fail or set()
        server.respond_with(self.reply)

    def reply(self, body: dict[str, Any]) -> Reply:
        text = "\n".join(m["content"] for m in body["messages"])
        if body["model"] != JUDGE_MODEL:
            prompt = re.search(r"Question (\d+):", text)
            assert prompt is not None, text
            return Reply.text(f"{body['model']} answer {prompt.group(1)}")
        found = ANSWER.search(text)
        assert found is not None, text
        key = (found.group(1), int(found.group(2)))
        if key in self.fail:
            return Reply.text("not json")
        met, rating = JUDGED[key]
        if "RUBRIC (" in text:
            return Reply.json(
                {
                    "verdicts": [
                        {"index": i + 1, "met": m, "rationale": "r"} for i, m in enumerate(met)
                    ]
                }
            )
        return Reply.json({"rating": rating})

    def judge(self, **values: Any) -> JudgeSpec:
        settings: dict[str, Any] = {
            "base_url": self.server.base_url,
            "model": JUDGE_MODEL,
            "mode": "explicit",
            "api_key_env": "none",
            "max_retries": 0,
        }
        return JudgeSpec.model_validate({**settings, **values})

    def policy(self, model: str) -> EndpointPolicy:
        return EndpointPolicy(
            EndpointConfig(
                base_url=self.server.base_url, model=model, api_key_env=None, max_retries=0
            )
        )
