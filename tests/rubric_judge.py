"""A deterministic judge for the scripted server: it reads the real judge prompt
(models/judging/prompts.py), finds the rubric's criteria and the fenced response,
and decides each criterion by a rule a test can state exactly.

Rule: a criterion whose description says "Mentions the word 'W'" is met iff the
response contains the word W (whole word, any case); any other criterion is not met.
An implicit prompt (no weights shown) gets the rating 1 + 9 x the share of criteria met.

`shuffle=True` is the control: every verdict list is still computed honestly, but
the reply carries the verdicts of a completion drawn at random (seeded) from all
those judged so far, so rewards keep their distribution and lose their link to the
completion they are given to.

Run alone for benches: `python tests/rubric_judge.py --delay 0.05` prints its base URL.
"""

from __future__ import annotations

import argparse
import random
import re
import threading
from typing import Any

from llm_server import Reply, ScriptedLLM

WORD_RULE = re.compile(r"Mentions the word '([A-Za-z]+)'")
_RUBRIC = re.compile(r"RUBRIC \((\d+) criteria\)")
_CRITERION = re.compile(r"^(\d+)\. \[(\w+)\] (.*)$", re.M)
_FENCED = re.compile(r"<<<RESPONSE (\w+)\n(.*)\nRESPONSE \1>>>", re.S)


def word_criterion(word: str, weight: float = 5.0) -> dict[str, Any]:
    """A RaR rubric item the word judge decides: met iff the response says `word`."""
    return {
        "title": f"Says {word}",
        "description": f"Mentions the word '{word}' in the answer.",
        "weight": weight,
    }


def fenced_response(text: str) -> str:
    found = _FENCED.search(text)
    if found is None:
        raise ValueError("no fenced response in the judge prompt")
    return found.group(2)


def criteria_lines(text: str) -> list[str]:
    """The numbered criteria lines of an explicit or implicit prompt, in order."""
    return [m.group(3) for m in _CRITERION.finditer(text.split("\n<<<RESPONSE", 1)[0])]


def word_met(criterion: str, response: str) -> bool:
    found = WORD_RULE.search(criterion)
    if found is None:
        return False
    return re.search(rf"\b{re.escape(found.group(1))}\b", response, re.I) is not None


class WordJudge:
    """The responder: `WordJudge(server)` scripts `server`; `.shuffle` toggles the control."""

    def __init__(self, server: ScriptedLLM, *, shuffle: bool = False, seed: int = 0):
        self.server = server
        self.shuffle = shuffle
        self.judged = 0
        self._seen: dict[int, list[list[bool]]] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        server.respond_with(self.reply)

    def verdicts(self, text: str) -> list[bool]:
        response = fenced_response(text)
        return [word_met(line, response) for line in criteria_lines(text)]

    def reply(self, body: dict[str, Any]) -> Reply:
        text = str(body["messages"][-1].get("content", ""))  # the user message
        met = self.verdicts(text)
        with self._lock:
            self.judged += 1
            if self.shuffle:
                pool = self._seen.setdefault(len(met), [])
                pool.append(met)
                met = self._rng.choice(pool)
        if _RUBRIC.search(text) is None:  # implicit: one rating from the share met
            share = sum(met) / len(met) if met else 0.0
            return Reply.json({"rating": 1 + round(9 * share)})
        return Reply.json(
            {
                "verdicts": [
                    {"index": i, "rationale": "word " + ("found" if m else "absent"), "met": m}
                    for i, m in enumerate(met, 1)
                ]
            }
        )


def _main() -> None:
    parser = argparse.ArgumentParser(description="Serve the word judge over HTTP.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--shuffle", action="store_true", help="the shuffled-reward control")
    args = parser.parse_args()
    server = ScriptedLLM().start(args.port)
    judge = WordJudge(server, shuffle=args.shuffle)
    if args.delay:
        server.respond_with(lambda body: _delayed(judge.reply(body), args.delay))
    print(server.base_url, flush=True)
    threading.Event().wait()


def _delayed(reply: Reply, delay: float) -> Reply:
    return Reply(
        content=reply.content, status=reply.status, delay=delay, headers=dict(reply.headers)
    )


if __name__ == "__main__":
    _main()
