"""The run's summary at the end of the terminal output: verdicts, readings, diagnoses, baseline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import hypothesis

from conformance.grading.verdict import Verdict
from conformance.report import results
from conformance.transport.redact import redact

if TYPE_CHECKING:
    from conformance.run import Run
    from conformance.settings import Settings


def summary_lines(run: Run, s: Settings) -> list[str]:
    """The lines printed under pytest's ``vats-conformance`` separator, secrets redacted."""
    lines: list[str] = []
    counts = results.summary(run.results)
    line = ", ".join(f"{n} {v}" for v, n in counts.items())
    for r in run.results:
        if r.verdict in (Verdict.NON_STRICT, Verdict.INFO):
            first = r.detail.splitlines()[-1] if r.detail else ""
            lines.append(redact(f"{r.verdict.upper():>10} {r.case_id}: {first}", s.secrets))
    errors = [r for r in run.results if r.verdict is Verdict.ERROR]
    if errors:
        lines.append(
            f"SUITE ERRORS (the suite's own faults, not the target's; exit status 3): "
            f"{', '.join(r.case_id for r in errors)}"
        )
    failure = run.listener_failure()
    if failure:
        lines.append(f"SUITE ERROR (exit status 3): {redact(failure, s.secrets)}")
    lines.append(f"verdicts: {line}")
    skipped = results.over_time(run.results)
    if skipped:
        lines.append(
            f"--max-duration {s.max_duration:g} s reached: {skipped} case(s) skipped for it; "
            "the run did not finish (exit status 2)"
        )
    ran = len(run.results)
    for reason, count in sorted(run.deselected.items()):
        lines.append(f"not run: {count} {reason}")
    if run.deselected:
        lines.append(
            f"ran {ran} of {ran + sum(run.deselected.values())} cases: the targets given serve "
            "no more"
        )
    for role, dims in sorted(run.readings.items()):
        taken = ", ".join(f"{d} {v.get('used')}" for d, v in sorted(dims.items()))
        lines.append(f"readings ({role}): {taken}")
    for d in run.diagnoses:
        lines.append(
            redact(
                f"DIAGNOSIS {d['title']} ({len(d['cases'])} case(s); see {d['isolated_by']}): "
                f"{d['fix']}",
                s.secrets,
            )
        )
    if s.baseline:
        known = sum(1 for r in run.results if r.known)
        stale = [r.case_id for r in run.results if r.stale]
        unused = s.baseline.unused({r.case_id for r in run.results})
        lines.append(
            f"baseline {s.baseline.path}: {known} known deviation(s)"
            + (f"; STALE (now passing, remove): {', '.join(stale)}" if stale else "")
            + (f"; not in this run: {', '.join(unused)}" if unused else "")
        )
    lines.append(
        f"seed {s.seed} (Hypothesis {hypothesis.__version__}; replay with --seed {s.seed}); "
        f"report: {s.report_dir / 'index.html'}, "
        f"results.json, junit.xml"
    )
    return lines
