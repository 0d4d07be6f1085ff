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


# --- the reading judge: a stand-in for an LLM that follows the judge prompt --------

# Rubric verbs that name what to do, not what to say.
_VERBS = {
    "identifies", "mentions", "highlights", "describes", "notes", "explains", "states",
    "clearly", "correctly", "provides", "includes", "references", "presents", "connects",
    "selects", "links", "detailed", "analysis", "avoids", "differentiates", "options",
    "answer", "after", "concise", "misidentifies", "omits",
}  # fmt: skip
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")


def key_terms(title: str) -> list[str]:
    """The content words of a criterion title ("Mentions Giant Papillae": giant, papillae)."""
    words = [w.lower().strip("'") for w in _WORD.findall(title)]
    return [w for w in words if len(w) >= 4 and w not in _VERBS]


def stuffed_completion(titles: list[str]) -> str:
    """Keyword stuffing: every criterion's key terms, as one list and nothing asserted."""
    terms = dict.fromkeys(t for title in titles for t in key_terms(title))
    return ", ".join(terms)


def _has(text: str, term: str) -> bool:
    return term[:6] in text.lower()  # a stem: "recurrence" matches "recurs"


def _asserts(sentence: str) -> bool:
    """A sentence that claims something: six words or more, not a list of terms."""
    words = _WORD.findall(sentence)
    return len(words) >= 6 and sentence.count(",") < len(words) / 3


def reading_met(title: str, response: str, *, read_claims: bool) -> bool:
    """Met when at least half the title's key terms appear: in one asserting sentence
    (told to judge assertions), anywhere (a literal keyword matcher, when not told)."""
    terms = key_terms(title)
    if not terms:
        return False
    need = (len(terms) + 1) // 2
    if not read_claims:
        return sum(_has(response, t) for t in terms) >= need
    sentences = [s for s in re.split(r"[.!?\n]+", response) if _asserts(s)]
    return any(sum(_has(s, t) for t in terms) >= need for s in sentences)


class ReadingJudge:
    """Judges like an LLM that obeys the instruction `told`, when the prompt carries it:
    criteria are met by claims, not by words; without it, a keyword matcher."""

    def __init__(self, server: ScriptedLLM, told: str):
        self.server, self.told = server, told
        server.respond_with(self.reply)

    def verdicts(self, text: str) -> list[bool]:
        response = fenced_response(text)
        read_claims = self.told in text
        titles = [line.split(": ", 1)[0] for line in criteria_lines(text)]
        return [reading_met(t, response, read_claims=read_claims) for t in titles]

    def reply(self, body: dict[str, Any]) -> Reply:
        return _verdict_reply(str(body["messages"][-1].get("content", "")), self.verdicts)


def _verdict_reply(text: str, verdicts: Any) -> Reply:
    met = verdicts(text)
    if _RUBRIC.search(text) is None:  # implicit: a rating from the share met
        return Reply.json({"rating": 1 + round(9 * sum(met) / max(1, len(met)))})
    return Reply.json(
        {"verdicts": [{"index": i, "rationale": "r", "met": m} for i, m in enumerate(met, 1)]}
    )


def _main() -> None:
    parser = argparse.ArgumentParser(description="Serve the word judge over HTTP.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--shuffle", action="store_true", help="the shuffled-reward control")
    parser.add_argument(
        "--reading", action="store_true", help="the reading judge (judges claims, not words)"
    )
    args = parser.parse_args()
    server = ScriptedLLM().start(args.port)
    judge: WordJudge | ReadingJudge = WordJudge(server, shuffle=args.shuffle)
    if args.reading:
        from rubricforge.models.judging.prompts import ASSERTIONS_NOT_WORDS

        judge = ReadingJudge(server, told=ASSERTIONS_NOT_WORDS)
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
