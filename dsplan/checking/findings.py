"""What ``dsplan check`` reports: findings, the numbers they were compared against, and the exit code.

The JSON document of ``dsplan check --format json`` is :meth:`Report.to_dict`; its keys are a
stable contract (docs/check.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dsplan.checking.facts import ERROR, INFO, SEVERITIES, WARNING
from dsplan.records import record

__all__ = [
    "ERROR",
    "INFO",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "WARNING",
    "Derived",
    "FileReport",
    "Finding",
    "Report",
    "iter_findings",
]

SCHEMA_VERSION = 1


@record
class Finding:
    """One problem in one config: rule, severity, location, the numbers, and what the laws suggest."""

    rule: str
    severity: str
    file: str
    key: str
    line: int | None
    message: str
    hint: str
    # In a trainer's file: the trainer's key or argument at ``line`` (``optimizer.lr``, ``--lr``).
    trainer_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The finding's keys; ``trainer_key`` only for a finding in a trainer's file."""
        out = dict(self.__dict__)
        if self.trainer_key is None:
            del out["trainer_key"]
        return out

    @property
    def shown_key(self) -> str:
        """The key as a reader of the file knows it: the trainer's, with dsplan's beside it."""
        return f"{self.trainer_key} ({self.key})" if self.trainer_key else self.key


@record
class Derived:
    """The numbers the rules compared against, echoed so a finding can be reproduced."""

    preset: str
    preset_source: str
    flops_per_token: int | None = None
    compute_flops: float | None = None
    params_total: int | None = None
    batch_size_tokens: float | None = None
    total_steps: int | None = None
    learning_rate_law: float | None = None
    batch_size_tokens_law: float | None = None
    tokens_law: float | None = None
    implied_mfu: float | None = None
    # Where the config came from and how the run is laid out (a trainer dialect; see dialects).
    dialect: str = "dsplan"
    tokens: float | None = None
    global_batch_sequences: int | None = None
    world_size: int | None = None
    tensor_parallel: int | None = None
    pipeline_parallel: int | None = None
    context_parallel: int | None = None
    expert_parallel: int | None = None
    data_parallel: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@record
class FileReport:
    """The findings of one file, most severe first."""

    file: str
    findings: tuple[Finding, ...]
    derived: Derived

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "derived": self.derived.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "errors": self.count(ERROR),
            "warnings": self.count(WARNING),
            "infos": self.count(INFO),
        }


@record
class Report:
    """Every file's findings and the exit code they imply."""

    files: tuple[FileReport, ...]
    strict: bool = False

    def count(self, severity: str) -> int:
        return sum(f.count(severity) for f in self.files)

    @property
    def exit_code(self) -> int:
        """1 if any error (or, under ``strict``, any warning), else 0."""
        if self.count(ERROR) or (self.strict and self.count(WARNING)):
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "strict": self.strict,
            "summary": {
                "files": len(self.files),
                "errors": self.count(ERROR),
                "warnings": self.count(WARNING),
                "infos": self.count(INFO),
                "exit_code": self.exit_code,
            },
            "files": [f.to_dict() for f in self.files],
        }


def iter_findings(report: Report) -> Iterator[Finding]:
    """Every finding of every file, in report order."""
    for file_report in report.files:
        yield from file_report.findings
