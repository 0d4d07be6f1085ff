"""CLI commands for responses and judging; registered on the main app in cli.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rubricforge.models.accounts.permissions import OPERATOR

from .cli_common import EndpointName, cli_endpoint, migrated_engine, user_errors

PARTIAL = 3  # exit status of a judge run that finished with some failed judgments

responses_app = typer.Typer(help="Responses to judge: import from JSONL.", no_args_is_help=True)

BaseUrl = Annotated[
    str | None, typer.Option(help="OpenAI-compatible URL [env RUBRICFORGE_LLM_BASE_URL]")
]
Model = Annotated[str | None, typer.Option(help="Model [env RUBRICFORGE_LLM_MODEL]")]
KeyEnv = Annotated[
    str | None,
    typer.Option(help="NAME of the variable holding the API key, 'none' for no key"),
]


@responses_app.command("import")
@user_errors
def responses_import(
    path: Annotated[Path, typer.Argument(help="JSONL: prompt_id, text (or response), source")],
    dataset: Annotated[str, typer.Option(help="Dataset the prompts belong to")],
) -> None:
    """Import responses for a dataset's prompts. All or nothing; re-import adds nothing."""
    from rubricforge.models.judging.responses import import_responses

    typer.echo(import_responses(migrated_engine(), path, dataset, actor=OPERATOR).summary())


@user_errors
def generate_cmd(
    dataset: Annotated[str, typer.Option(help="Dataset whose prompts to answer")],
    n: Annotated[int, typer.Option(min=1, help="Responses per prompt")] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight")] = 8,
    temperature: Annotated[float, typer.Option(min=0, max=2)] = 1.0,
    endpoint_name: EndpointName = None,
    base_url: BaseUrl = None,
    model: Model = None,
    api_key_env: KeyEnv = None,
) -> None:
    """Sample N responses per prompt from a policy endpoint."""
    from rubricforge.models.judging.responses import generate_responses

    engine = migrated_engine()
    endpoint = cli_endpoint(
        engine,
        endpoint_name,
        base_url=base_url,
        model=model,
        api_key_env=api_key_env,
        temperature=temperature,
    )
    result = generate_responses(
        engine,
        dataset,
        endpoint,
        n=n,
        concurrency=concurrency,
        progress=True,
        actor=OPERATOR,
    )
    typer.echo(result.summary())


@user_errors
def judge_cmd(
    dataset: Annotated[str | None, typer.Option(help="Judge this dataset's responses")] = None,
    snapshot: Annotated[
        int | None, typer.Option(help="...or a snapshot's (frozen rubrics)")
    ] = None,
    mode: Annotated[str, typer.Option(help="explicit | implicit | likert | reference_likert")] = (
        "explicit"
    ),
    aggregation: Annotated[str, typer.Option(help="explicit mode: rar_explicit | points")] = (
        "rar_explicit"
    ),
    per_criterion: Annotated[bool, typer.Option(help="One call per criterion")] = False,
    source: Annotated[str | None, typer.Option(help="Only responses from this source")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight")] = 16,
    endpoint_name: EndpointName = None,
    base_url: BaseUrl = None,
    model: Model = None,
    api_key_env: KeyEnv = None,
) -> None:
    """Run a judge over stored responses; every verdict is kept, identical calls are cached.

    Exit status: 0 every response judged, 1 the run failed (no judgment succeeded, or a
    user's error), 3 the run finished but some judgments failed (they are stored as such).
    """
    from rubricforge.models.core.errors import RubricforgeError
    from rubricforge.models.judging.judge import JudgeConfig
    from rubricforge.models.judging.orm import JudgeMode
    from rubricforge.models.judging.rewards import Aggregation
    from rubricforge.models.judging.runs import run_judge

    try:
        judge_mode, agg = JudgeMode(mode), Aggregation(aggregation)
    except ValueError as exc:
        raise RubricforgeError(str(exc)) from None
    engine = migrated_engine()
    endpoint = cli_endpoint(
        engine, endpoint_name, base_url=base_url, model=model, api_key_env=api_key_env
    )
    config = JudgeConfig(
        endpoint,
        mode=judge_mode,
        aggregation=agg,
        per_criterion=per_criterion,
        concurrency=concurrency,
    )
    report = run_judge(
        engine,
        config,
        dataset=dataset,
        snapshot_id=snapshot,
        response_source=source,
        progress=True,
        actor=OPERATOR,
    )
    typer.echo(report.summary())
    if report.run_failed:
        typer.secho(
            f"error: judge run {report.run_id} failed: none of its {report.total} judgments "
            "succeeded (see the run's errors on the Judge runs page); check the endpoint and "
            "model, then run again.",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    if report.failed:
        typer.secho(
            f"warning: {report.failed} of {report.total} judgments failed in run "
            f"{report.run_id}; they are stored as failed, with no reward.",
            fg=typer.colors.YELLOW,
            err=True,
        )
        raise typer.Exit(PARTIAL)


@responses_app.command("pairs")
@user_errors
def responses_pairs(
    snapshot: Annotated[int, typer.Option(help="Export snapshot whose scored responses to pair")],
    out: Annotated[Path, typer.Option(help="New folder for dpo_pairs.jsonl and ranked.jsonl")],
    min_margin: Annotated[
        float, typer.Option(help="Skip pairs whose reward difference is smaller")
    ] = 0.0,
    run: Annotated[
        int | None, typer.Option(help="Only this judge run's scores (default: the newest)")
    ] = None,
) -> None:
    """Preference pairs (TRL DPO format: prompt, chosen, rejected, margin) and a ranked
    list per prompt, from the rubric-scored responses to a snapshot's prompts."""
    from rubricforge.models.judging.preference_pairs import write_pairs

    pair_set, paths = write_pairs(
        migrated_engine(), snapshot, out, min_margin=min_margin, run_id=run, actor=OPERATOR
    )
    typer.echo(pair_set.summary())
    for kind, path in paths.items():
        typer.echo(f"{kind:6s} {path}")
