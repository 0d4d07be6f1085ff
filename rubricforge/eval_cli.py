"""`rubricforge eval ...`: score a policy on a held-out snapshot with the rubric judge
and the rubric-free judge side by side, list the runs, compare two of them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rubricforge.models.accounts.permissions import OPERATOR
from rubricforge.models.core.errors import InvalidInputError

from .cli_common import migrated_engine, user_errors

eval_app = typer.Typer(
    help="Evaluate a policy (a checkpoint or an endpoint) on a held-out snapshot.",
    no_args_is_help=True,
)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _policy(
    checkpoint: Path | None,
    policy_url: str | None,
    policy_model: str | None,
    policy_key_env: str,
    settings: dict[str, Any],
) -> Any:
    if checkpoint is not None and policy_url:
        raise InvalidInputError("give either --checkpoint or --policy-url, not both")
    if checkpoint is not None:
        # Only here does the CLI load torch (through the trainer), and only when asked.
        from rubricforge.trainer.evaluate import CheckpointPolicy

        return CheckpointPolicy.at(
            checkpoint, max_new_tokens=settings["max_tokens"], temperature=settings["temperature"]
        )
    if not policy_url or not policy_model:
        raise InvalidInputError(
            "name the policy: --checkpoint FOLDER (a job's output folder), or --policy-url "
            "with --policy-model for an OpenAI-compatible server; with --job, a finished "
            "job's output folder is the default"
        )
    from rubricforge.models.llm.config import EndpointConfig
    from rubricforge.models.training.evaluation import EndpointPolicy

    return EndpointPolicy(
        EndpointConfig.build(
            base_url=policy_url.strip(),
            model=policy_model.strip(),
            api_key_env=policy_key_env,
            **settings,
        )
    )


@eval_app.command("run")
@user_errors
def eval_run(
    snapshot: Annotated[int, typer.Option(help="Held-out export snapshot id to evaluate on")],
    job: Annotated[
        int | None,
        typer.Option(
            help="Training job: its judge, its output folder as the checkpoint, and "
            "the run is stored next to it"
        ),
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Model folder to generate with (needs the trainer extra)")
    ] = None,
    policy_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible URL serving the policy, e.g. vLLM's /v1")
    ] = None,
    policy_model: Annotated[str | None, typer.Option(help="Model name at the policy URL")] = None,
    policy_key_env: Annotated[
        str, typer.Option(help="Variable holding the policy endpoint's key; 'none' for no key")
    ] = "none",
    config: Annotated[
        Path | None,
        typer.Option(help="Job config file (.json, .yaml) whose judge to use (default: the job's)"),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="judge.KEY=VALUE on top, repeatable (judge.model=gpt-4o-mini)"),
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Name of the policy in listings (default: from the source)")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Evaluate the first N prompts of the snapshot only")
    ] = None,
    temperature: Annotated[
        float, typer.Option(help="Policy sampling temperature (0: greedy)")
    ] = 0.0,
    max_tokens: Annotated[int, typer.Option(help="Longest completion, in tokens")] = 1024,
) -> None:
    """Generate one completion per prompt with the policy, judge each with the rubric
    judge and with the same model without the rubric (Direct-Likert), and store the run."""
    from rubricforge.models.core.db import session_scope
    from rubricforge.models.training.config_files import apply_overrides, load_config_file
    from rubricforge.models.training.evaluation import run_eval
    from rubricforge.models.training.evaluation_runs import get_eval_run, job_inputs, judge_spec

    engine = migrated_engine()
    judge: dict[str, Any] = {}
    output: str | None = None
    if job is not None:
        with session_scope(engine) as s:
            inputs = job_inputs(s, job)
        judge, output = inputs.judge, inputs.output_uri
        if inputs.snapshot_id == snapshot:
            typer.echo(
                f"warning: job {job} trained on snapshot {snapshot}, so it is not held out",
                err=True,
            )
    if config is not None:
        judge = dict(load_config_file(config).get("judge") or {})
    judge = apply_overrides({"judge": judge}, set_ or [])["judge"]
    if not judge:
        raise InvalidInputError(
            "name a judge: --job (its judge), --config (a job config file) or "
            "--set judge.base_url=... --set judge.model=..."
        )
    spec = judge_spec(judge)
    if checkpoint is None and not policy_url and output:
        checkpoint = Path(output)
    settings = {"temperature": temperature, "max_tokens": max_tokens}
    policy = _policy(checkpoint, policy_url, policy_model, policy_key_env, settings)
    name = label or (f"job {job}" if job is not None and checkpoint else None)
    name = name or (checkpoint.name if checkpoint else str(policy_model))
    run_id = run_eval(
        engine, actor=OPERATOR, snapshot_id=snapshot, judge=spec, policy=policy, label=name,
        job_id=job, limit=limit, progress=True,
    )  # fmt: skip
    with session_scope(engine) as s:
        run, _ = get_eval_run(s, run_id)
    typer.echo(
        f"eval run {run.id}: {run.policy_label} ({run.policy_kind} {run.policy_source}) on "
        f"snapshot {run.snapshot_id} ({run.snapshot_sha256[:12]}), {run.n} prompt(s); judge "
        f"{spec.model} ({spec.mode.value})"
    )
    typer.echo(
        f"rubric reward mean {_fmt(run.rubric_mean)} ({run.rubric_failures} failed); "
        f"rubric-free (Likert) mean {_fmt(run.likert_mean)} ({run.likert_failures} failed)"
    )
    for category, rate in run.category_rates.items():
        typer.echo(f"  {category:10} {rate:.0%}")


@eval_app.command("list")
@user_errors
def eval_list() -> None:
    """Eval runs, newest first."""
    from rubricforge.models.core.db import session_scope
    from rubricforge.models.training.evaluation_runs import list_eval_runs

    with session_scope(migrated_engine()) as s:
        runs = list_eval_runs(s)
    typer.echo(
        f"{'id':>5}  {'job':>5}  {'snapshot':>8}  {'n':>5}  {'rubric':>6}  {'likert':>6}  policy"
    )
    for r in runs:
        typer.echo(
            f"{r.id:5}  {r.job_id or '':>5}  {r.snapshot_id:8}  {r.n:5}  "
            f"{_fmt(r.rubric_mean):>6}  {_fmt(r.likert_mean):>6}  {r.policy_label}"
        )


@eval_app.command("compare")
@user_errors
def eval_compare(
    baseline: Annotated[
        int, typer.Argument(help="Eval run id of the baseline (e.g. the base model)")
    ],
    candidate: Annotated[int, typer.Argument(help="Eval run id to compare with it")],
) -> None:
    """Per-prompt paired differences candidate - baseline, with a 95% interval."""
    from rubricforge.models.core.db import session_scope
    from rubricforge.models.training.evaluation_compare import compare_runs

    with session_scope(migrated_engine()) as s:
        cmp = compare_runs(s, baseline, candidate)
    if not cmp.same_snapshot:
        typer.echo("warning: the runs are on different snapshots; only shared prompts are paired")
    for d in (cmp.rubric, cmp.likert):
        interval = "" if d.low is None else f" (95% CI {d.low:+.3f} to {d.high:+.3f})"
        diff = "n/a" if d.mean_diff is None else f"{d.mean_diff:+.3f}"
        typer.echo(
            f"{d.judge:12} n={d.n}: {_fmt(d.baseline_mean)} -> {_fmt(d.candidate_mean)}, "
            f"difference {diff}{interval}"
        )
