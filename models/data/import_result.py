"""What an import did (or, for a dry run, would do): the counts, the conflicts
with curated rubrics left alone, the rows whose NULs were replaced, and the
summary the CLI prints. Pure data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ImportResult:
    dataset: str
    format: str  # row shape: "rar" | "healthbench"
    file: str = ""  # the file's name
    file_format: str = ""  # "jsonl" | "csv" | "parquet"
    rows: int = 0
    prompts_added: int = 0
    prompts_unchanged: int = 0
    rubrics_updated: int = 0  # existing prompts that got a new rubric version
    criteria_added: int = 0
    pitfalls_flagged: int = 0  # imported criteria flagged (criteria.is_flagged), as Prompts counts
    sha256: str = ""
    dry_run: bool = False  # nothing was written: the counts say what an import would do
    curated_replaced: int = 0  # of rubrics_updated: curated ones replaced on request
    conflicts: list[ImportConflict] = field(default_factory=list)
    nul_lines: list[int] = field(default_factory=list)  # rows whose NULs became U+FFFD

    @property
    def changed(self) -> bool:
        return bool(self.prompts_added or self.rubrics_updated)

    def conflict_lines(self) -> list[str]:
        return [f"line {c.line}: '{c.external_id}': {c.reason}" for c in self.conflicts]

    def summary(self) -> str:
        shape = {"rar": "RaR", "healthbench": "HealthBench"}.get(self.format, self.format)
        verb = "Dry run, nothing written: importing" if self.dry_run else "Imported"
        would = " would be" if self.dry_run else ""
        text = (
            f"{verb} {self.file} ({self.rows} {shape} rows) into dataset '{self.dataset}': "
            f"{self.prompts_added} prompts{would} added, {self.rubrics_updated} rubrics{would} "
            f"updated (new version), {self.prompts_unchanged} unchanged, "
            f"{len(self.conflicts)} conflicts left as they are; "
            f"{self.criteria_added} criteria{would} written."
        )
        if self.nul_lines:
            shown = ", ".join(map(str, self.nul_lines[:20]))
            more = " ..." if len(self.nul_lines) > 20 else ""
            text += (
                f"\n{len(self.nul_lines)} row(s) held NUL characters, replaced with U+FFFD "
                f"(lines {shown}{more}); their criteria carry the flag text:nul_replaced."
            )
        if self.curated_replaced:
            text += (
                f"\n{self.curated_replaced} curated rubric(s){would} replaced with the file "
                "(a new draft version; the approved version stays exportable until re-approved)."
            )
        if self.conflicts:
            text += (
                f"\n{len(self.conflicts)} prompt(s) hold curated work that differs from the file "
                "and were not changed (replace them with --replace-curated):\n  "
                + "\n  ".join(self.conflict_lines()[:50])
            )
            if len(self.conflicts) > 50:
                text += f"\n  ... and {len(self.conflicts) - 50} more"
        if not self.changed and not self.dry_run:
            text += " Nothing changed."
        if self.pitfalls_flagged:
            text += (
                f"\n{self.pitfalls_flagged} criteria flagged: their wording and sign may "
                "disagree (a pitfall worded as an avoidance, a missing point rewarded, or title "
                "and description disagreeing): check their polarity."
            )
        return text


@dataclass(frozen=True)
class ImportConflict:
    """A prompt the import leaves alone: its rubric holds curated work (an
    expert's edit or an approval) or is retired, and the file differs from it."""

    line: int
    external_id: str
    prompt_id: int
    reason: str
