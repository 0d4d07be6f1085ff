"""NUL characters and odd input: each boundary where text enters
PostgreSQL replaces NUL with U+FFFD and records it, and a file nested 100,000
deep is a clear problem on its line, not a RecursionError."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from llm_server import Reply, ScriptedLLM, all_met, rubric_items
from rubricforge.models.accounts.orm import Role
from rubricforge.models.accounts.permissions import OPERATOR, UserInfo
from rubricforge.models.core.errors import ImportFileError
from rubricforge.models.core.text_safety import NUL_REPLACED_FLAG
from rubricforge.models.data.importer import import_file
from rubricforge.models.judging.judge import JudgeConfig
from rubricforge.models.judging.orm import Response, Verdict
from rubricforge.models.judging.responses import generate_responses, import_responses
from rubricforge.models.judging.runs import run_judge
from rubricforge.models.llm.config import EndpointConfig
from rubricforge.models.rubrics.criteria import content_hash
from rubricforge.models.rubrics.drafting import draft_dataset
from rubricforge.models.rubrics.queries import load_editor_state
from rubricforge.models.rubrics.versions import save_version
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from test_import import counts, head_criteria, rar_row, write_csv, write_jsonl


def prompt_row(engine: Engine, uid: str) -> tuple[str, str, dict[str, Any]]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT question, reference_answer, meta FROM prompts WHERE external_id = :u"),
            {"u": uid},
        ).one()
    return row.question, row.reference_answer, row.meta


def test_nul_in_question_reference_and_criterion_is_replaced_and_flagged(
    engine: Engine, tmp_path: Path
) -> None:
    bad = rar_row("b", question="Dose\x00 of X?", reference_answer="5\x00mg")
    bad["rubric"][1]["description"] = "Checks renal\x00 function."
    bad["rubric_list"][1] = "Important Criteria: Checks renal\x00 function."
    result = import_file(
        engine, write_jsonl(tmp_path / "n.jsonl", [rar_row("a"), bad]), "ds", actor=OPERATOR
    )

    assert result.prompts_added == 2 and result.nul_lines == [2]
    assert "1 row(s) held NUL characters, replaced with U+FFFD (lines 2)" in result.summary()
    question, reference, meta = prompt_row(engine, "b")
    assert (question, reference) == ("Dose\ufffd of X?", "5\ufffdmg")
    assert "NUL" in meta["text_replaced"]
    criteria = head_criteria(engine, "ds")["b"]
    assert criteria[1].description == "Checks renal\ufffd function."
    assert NUL_REPLACED_FLAG in criteria[1].flags
    assert NUL_REPLACED_FLAG not in criteria[0].flags
    assert "text_replaced" not in prompt_row(engine, "a")[2]


def test_a_bare_nul_byte_in_a_jsonl_line_is_replaced(engine: Engine, tmp_path: Path) -> None:
    line = json.dumps(rar_row("a")).replace("first-line", "first\\u0000line")
    raw = line.replace("Metformin, unless", "Metformin,\x00unless")
    path = tmp_path / "raw.jsonl"
    path.write_bytes(raw.encode() + b"\n")
    result = import_file(engine, path, "ds", actor=OPERATOR)
    assert result.nul_lines == [1]
    question, reference, _ = prompt_row(engine, "a")
    assert "\ufffd" in question and reference == "Metformin,\ufffdunless contraindicated."


def test_nul_in_a_csv_cell_is_replaced_by_row_number(engine: Engine, tmp_path: Path) -> None:
    rows = [rar_row("a"), rar_row("b", question="What\x00 now?")]
    result = import_file(engine, write_csv(tmp_path / "n.csv", rows), "ds", actor=OPERATOR)
    assert result.nul_lines == [3]  # the header is line 1
    assert prompt_row(engine, "b")[0] == "What\ufffd now?"


def test_a_100000_deep_line_is_a_problem_on_its_line(engine: Engine, tmp_path: Path) -> None:
    deep = '{"question": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = tmp_path / "deep.jsonl"
    path.write_text(json.dumps(rar_row("a")) + "\n" + deep + "\n")
    before = counts(engine)
    with pytest.raises(ImportFileError) as err:
        import_file(engine, path, "ds", actor=OPERATOR)
    assert err.value.problems == [(2, err.value.problems[0][1])]
    assert "nested too deeply" in err.value.problems[0][1]
    assert counts(engine) == before


def test_a_deeply_nested_csv_cell_is_a_problem_on_its_row(engine: Engine, tmp_path: Path) -> None:
    rows = [rar_row("a"), rar_row("b")]
    path = write_csv(tmp_path / "deep.csv", rows)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    deep_row = rar_row("c")
    cells = {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in deep_row.items()}
    cells["rubric"] = "[" * 100_000 + "]" * 100_000
    buf = io.StringIO()
    csv.writer(buf).writerow([cells.get(h, "") for h in header])
    path.write_text("\n".join(lines) + "\n" + buf.getvalue())
    with pytest.raises(ImportFileError) as err:
        import_file(engine, path, "ds", actor=OPERATOR)
    assert [line for line, _ in err.value.problems] == [4]
    assert "nested too deeply" in err.value.problems[0][1]


# --- model output and response files ---------------------------------------------


def endpoint(server: ScriptedLLM, model: str = "m") -> EndpointConfig:
    return EndpointConfig(base_url=server.base_url, model=model, api_key_env=None,
                          backoff_initial=0.01, backoff_max=0.05, timeout=5)  # fmt: skip


@pytest.fixture
def med(engine: Engine, tmp_path: Path) -> list[str]:
    import_file(
        engine,
        write_jsonl(tmp_path / "m.jsonl", [rar_row("a"), rar_row("b")]),
        "med",
        actor=OPERATOR,
    )
    return ["a", "b"]


def test_nul_in_a_draft_reply_is_replaced_and_flagged(
    engine: Engine, med: list[str], llm_server: ScriptedLLM
) -> None:
    reply = rubric_items(8)
    reply["criteria"][2]["title"] = "Bad\x00 title"
    reply["criteria"][3]["description"] = reply["criteria"][3]["description"] + "\x00"
    llm_server.respond_with(lambda body: Reply.json(reply))
    report = draft_dataset(engine, "med", endpoint(llm_server, "drafter"), concurrency=2)
    assert (report.drafted, report.failures) == (2, [])
    criteria = head_criteria(engine, "med")["a"]
    assert criteria[2].title == "Bad\ufffd title"
    assert criteria[3].description.endswith("\ufffd")
    assert [NUL_REPLACED_FLAG in c.flags for c in criteria[:5]] == [False, False, True, True, False]


def test_nul_in_a_judge_rationale_keeps_the_run_and_is_counted(
    engine: Engine, med: list[str], tmp_path: Path, llm_server: ScriptedLLM
) -> None:
    rows = [{"prompt_id": u, "text": f"answer {u}", "source": "p"} for u in med]
    import_responses(engine, write_jsonl(tmp_path / "r.jsonl", rows), "med", actor=OPERATOR)

    def nul_rationale(body: dict[str, Any]) -> Reply:
        verdicts = json.loads(all_met(body).content or "")["verdicts"]
        return Reply.json({"verdicts": [{**v, "rationale": "bad\x00why"} for v in verdicts]})

    llm_server.respond_with(nul_rationale)
    report = run_judge(engine, JudgeConfig(endpoint(llm_server)), dataset="med", actor=OPERATOR)
    assert (report.judged, report.failed) == (2, 0)  # nothing paid for is thrown away
    assert report.nul_replaced == 6 and "held NUL characters" in report.summary()  # 2 x 3
    with engine.connect() as conn:
        rationales = set(conn.execute(select(Verdict.rationale)).scalars())
        audit = conn.execute(
            text("SELECT details FROM audit_log WHERE action = 'judge_run.succeeded'")
        ).scalar_one()
    assert rationales == {"bad\ufffdwhy"}
    assert audit["nul_replaced"] == 6


def test_nul_in_a_responses_file_and_in_generated_responses(
    engine: Engine, med: list[str], tmp_path: Path, llm_server: ScriptedLLM
) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        json.dumps({"prompt_id": "a", "text": "fine", "source": "p"}) + "\n"
        + json.dumps({"prompt_id": "b", "text": "bad\x00text", "source": "p"}) + "\n"
    )  # fmt: skip
    result = import_responses(engine, path, "med", actor=OPERATOR)
    assert result.added == 2 and result.nul_replaced == [2]
    llm_server.respond_with(lambda body: Reply.text("gen\x00erated"))
    generated = generate_responses(engine, "med", endpoint(llm_server, "policy"), actor=OPERATOR)
    assert generated.added == 2 and generated.nul_replaced == [1, 2]
    with engine.connect() as conn:
        stored = {r.text: r.meta for r in conn.execute(select(Response.text, Response.meta))}
    assert "text_replaced" in stored["bad\ufffdtext"] and "text_replaced" not in stored["fine"]
    assert stored["gen\ufffderated"]["text_replaced"].startswith("NUL")


def test_nul_typed_in_the_editor_is_replaced_flagged_and_hashed_as_stored(
    engine: Engine, med: list[str]
) -> None:
    with Session(engine) as s, s.begin():
        pid = s.execute(text("SELECT id FROM prompts WHERE external_id = 'a'")).scalar_one()
        state = load_editor_state(s, pid)
        assert state.rubric_id is not None and state.lock_version is not None
        edited = [replace(state.criteria[0], title="Names\x00 it"), *state.criteria[1:]]
        info = save_version(s, UserInfo(None, "cli", Role.admin), state.rubric_id, edited,
                            expected_lock_version=state.lock_version, note="typo")  # fmt: skip
    stored = head_criteria(engine, "med")["a"]
    assert stored[0].title == "Names\ufffd it" and NUL_REPLACED_FLAG in stored[0].flags
    assert info.content_hash == content_hash(info.criteria)
    assert info.criteria[0].title == "Names\ufffd it"
