"""The pre-launch evaluation of the Claude path: `make llm-eval` (`python -m tests.perf.llm_eval`).

Every demo persona at 4 and 12 weeks, asked the production (compact) ask on each model and effort
level, through Message Batches (half price): a first round of asks, then one round of repairs for
the answers the schema or the validator refused, exactly as the pipeline would (same request
parameters, same parsing, clamps, expansion and validation: `tpg.generation.claude.client`).

With ANTHROPIC_API_KEY set it runs against the real API (ANTHROPIC_BASE_URL if set); otherwise
against the local fake Messages API in its realistic mode, and the report says so in its first
line: the fake's slip rates are assumptions, so those figures test the evaluation, not a model.

Reported per model and effort: first-pass validation rate, repair rate and its success, what was
refused and why, output and thinking tokens, cost (batch price, and the list price a live request
pays), the batch's wall time and the expected live time at published speeds; then the production
tier order (compact on the main model, then on the small one, then the rules engine) as a tier
distribution. Written to docs/llm-eval.md.

    python -m tests.perf.llm_eval [--efforts low,medium] [--weeks 4,12] [--max-wait 86400] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "docs" / "llm-eval.md"


@dataclass
class Outcome:
    """One (persona, weeks) job under one (model, effort)."""

    first: str  # valid | schema | invalid | truncated | refused | error
    repaired: str | None = None  # valid | schema | invalid | ... when a repair round ran
    output_tokens: int = 0
    thinking_tokens: int = 0
    cost_batch: float = 0.0
    cost_list: float = 0.0
    codes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.first == "valid" or self.repaired == "valid"


def _classify(message: Any, data: Any, request: Any, settings: Any) -> tuple[str, Any, list[str], Any]:
    """(outcome, program or None, codes, repair problems or None) for one answer."""
    from tpg.generation.claude.client import answer_text, parse_answer
    from tpg.generation.ports import TierError
    from tpg.training.validation import validate_program

    try:
        program, _ = parse_answer(answer_text(message), message.stop_reason, data, request, ask="compact")
    except TierError as exc:
        kind = {"LLM_TRUNCATED": "truncated", "LLM_REFUSED": "refused"}.get(exc.code, "schema")
        problems = exc.repair.problems if exc.repair is not None else None
        return kind, None, [exc.code], problems
    report = validate_program(program, data)
    if report.ok:
        return "valid", program, [], None
    return "invalid", program, sorted({v.code.value for v in report.errors}), report


def custom_id(persona: str, weeks: int) -> str:
    """A batch request's id for one job: `<persona>-<weeks>` (the API takes ^[a-zA-Z0-9_-]{1,64}$;
    persona names are snake_case)."""
    return f"{persona}-{weeks}"


def job_of(custom: str) -> tuple[str, int]:
    """(persona, weeks) back from `custom_id`."""
    persona, weeks = custom.rsplit("-", 1)
    return persona, int(weeks)


def batch_message(data: Any, request: Any) -> dict[str, Any]:
    """The ask's user turn as a batch sends it: without the 5-minute breakpoint the live turn
    carries (a batch is answered over minutes to hours, so no repair would read that entry, and the
    write costs 1.25x the turn; as `tpg.generation.claude.batch.member_request`)."""
    from tpg.generation.claude.prompt import user_message

    text = user_message(data, ask="compact", weeks=request.weeks, request_notes=request.notes)
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def _run_batch(
    client: Any, requests: list[dict[str, Any]], *, max_wait: float, poll: float
) -> dict[str, Any]:
    """custom_id -> Message (or None when the request errored or expired)."""
    if not requests:
        return {}
    batch = client.messages.batches.create(requests=requests)
    deadline = time.monotonic() + max_wait
    while batch.processing_status != "ended":
        if time.monotonic() > deadline:
            client.messages.batches.cancel(batch.id)
            raise SystemExit(f"llm-eval: batch {batch.id} not done after {max_wait:.0f} s; cancelled")
        time.sleep(poll)
        batch = client.messages.batches.retrieve(batch.id)
    results: dict[str, Any] = {}
    for line in client.messages.batches.results(batch.id):
        result = line.result
        results[line.custom_id] = result.message if result.type == "succeeded" else None
    return results


def evaluate(
    settings: Any, *, models: list[str], efforts: list[str], weeks: list[int], max_wait: float, poll: float
) -> dict[str, Any]:
    from tpg.generation.claude.client import (
        get_client,
        max_tokens_for,
        problem_lines,
        request_params,
        usage_of,
    )
    from tpg.generation.claude.prompt import repair_message
    from tpg.generation.ports import GenerationRequest
    from tpg.training.analysis import analyse
    from tpg_local.personas import PERSONAS, persona_user_data

    client = get_client(settings)
    jobs = {(p, w): analyse(persona_user_data(p, uuid.uuid4())) for p in sorted(PERSONAS) for w in weeks}
    outcomes: dict[tuple[str, str], dict[tuple[str, int], Outcome]] = {}
    seconds: dict[tuple[str, str], float] = {}
    for model in models:
        for effort in efforts:
            run_settings = settings.model_copy(update={"llm_effort": effort})
            started = time.perf_counter()

            def params(
                messages: list[Any], *, model: str = model, run_settings: Any = run_settings
            ) -> dict[str, Any]:
                return request_params(
                    run_settings,
                    model=model,
                    ask="compact",
                    messages=messages,
                    max_tokens=max_tokens_for(run_settings, "compact"),
                )

            firsts = [
                {
                    "custom_id": custom_id(p, w),
                    "params": params([batch_message(data, GenerationRequest(weeks=w))]),
                }
                for (p, w), data in jobs.items()
            ]
            answers = _run_batch(client, firsts, max_wait=max_wait, poll=poll)
            results: dict[tuple[str, int], Outcome] = {}
            repairs: list[dict[str, Any]] = []
            for (p, w), data in jobs.items():
                key, request = custom_id(p, w), GenerationRequest(weeks=w)
                message = answers.get(key)
                if message is None:
                    results[(p, w)] = Outcome(first="error")
                    continue
                kind, _, codes, problems = _classify(message, data, request, run_settings)
                outcome = Outcome(first=kind, codes=codes)
                _add_usage(outcome, message, run_settings, model, usage_of)
                results[(p, w)] = outcome
                if problems is not None:
                    from tpg.training.validation import ValidationReport

                    lines = (
                        problem_lines(problems, ask="compact")
                        if isinstance(problems, ValidationReport)
                        else list(problems)
                    )
                    from tpg.generation.claude.client import answer_text

                    repairs.append(
                        {
                            "custom_id": key,
                            "params": params(
                                [
                                    batch_message(data, request),
                                    {"role": "assistant", "content": answer_text(message)},
                                    {"role": "user", "content": repair_message(lines, ask="compact")},
                                ]
                            ),
                        }
                    )
            repaired = _run_batch(client, repairs, max_wait=max_wait, poll=poll)
            for key, message in repaired.items():
                p, w = job_of(key)
                outcome = results[(p, w)]
                if message is None:
                    outcome.repaired = "error"
                    continue
                kind, _, codes, _ = _classify(message, jobs[(p, w)], GenerationRequest(weeks=w), run_settings)
                outcome.repaired = kind
                _add_usage(outcome, message, run_settings, model, usage_of)
            outcomes[(model, effort)] = results
            seconds[(model, effort)] = time.perf_counter() - started
    return {"outcomes": outcomes, "seconds": seconds, "jobs": len(jobs)}


def _add_usage(outcome: Outcome, message: Any, settings: Any, model: str, usage_of: Any) -> None:
    batch, live = usage_of(message, settings, model, batch=True), usage_of(message, settings, model)
    outcome.output_tokens += batch.output_tokens or 0
    outcome.thinking_tokens += batch.thinking_tokens or 0
    outcome.cost_batch += batch.cost_usd or 0.0
    outcome.cost_list += live.cost_usd or 0.0


def render(result: dict[str, Any], *, against: str, main: str, small: str, efforts: list[str]) -> str:
    from tests.fakes.anthropic_server import published_latency

    lines = [
        f"Evaluated against {against}, {time.strftime('%Y-%m-%d %H:%M')}: {result['jobs']} jobs "
        "(every demo persona x the program lengths) per model and effort, compact ask, Message Batches.",
        "",
        "| model | effort | first-pass valid | repaired (of refused) | valid after one repair "
        "| refused for | output tokens / job (p50, max) | thinking / job | cost / job (batch; list) "
        "| batch wall s | expected live s (p50) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (model, effort), results in result["outcomes"].items():
        values = list(results.values())
        n = len(values)
        first = sum(o.first == "valid" for o in values)
        refused = [o for o in values if o.first != "valid"]
        fixed = sum(o.repaired == "valid" for o in refused)
        codes = Counter(c for o in refused for c in o.codes)
        out = [o.output_tokens for o in values]
        latency = published_latency(model)
        live = [latency.first_token_seconds + o.output_tokens / latency.tokens_per_second for o in values]
        cells = [
            model,
            effort,
            f"{first}/{n} ({first / n:.0%})",
            str(sum(o.repaired is not None for o in refused)),
            f"{fixed}/{len(refused)}",
            ", ".join(f"{c} {k}" for c, k in codes.most_common(4)) or "-",
            f"{statistics.median(out):.0f}, {max(out)}",
            f"{statistics.mean(o.thinking_tokens for o in values):.0f}",
            f"${statistics.mean(o.cost_batch for o in values):.4f}; "
            f"${statistics.mean(o.cost_list for o in values):.4f}",
            f"{result['seconds'][(model, effort)]:.1f}",
            f"{statistics.median(live):.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Tier distribution in the production order (compact on the main model, then the small one, "
        "then the rules engine):",
        "",
    ]
    lines += [
        "| effort | compact (first pass) | compact (repaired) | compact_small | offline |",
        "|---|---|---|---|---|",
    ]
    for effort in efforts:
        main_results = result["outcomes"].get((main, effort), {})
        small_results = result["outcomes"].get((small, effort), {})
        tally: Counter[str] = Counter()
        for job, outcome in main_results.items():
            if outcome.first == "valid":
                tally["first"] += 1
            elif outcome.repaired == "valid":
                tally["repaired"] += 1
            elif job in small_results and small_results[job].valid:
                tally["small"] += 1
            else:
                tally["offline"] += 1
        n = max(1, sum(tally.values()))
        shares = [tally[k] / n for k in ("first", "repaired", "small", "offline")]
        lines.append(f"| {effort} | " + " | ".join(f"{share:.0%}" for share in shares) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--efforts", default="low,medium")
    parser.add_argument("--weeks", default="4,12")
    parser.add_argument("--max-wait", type=float, default=24 * 3600, help="seconds to wait for a batch")
    parser.add_argument("--poll", type=float, default=30.0, help="seconds between batch status checks")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/llm-eval.md")
    args = parser.parse_args(argv)
    efforts = [e for e in args.efforts.split(",") if e]
    weeks = [int(w) for w in args.weeks.split(",") if w]

    from tpg.platform.settings import Settings

    real = bool(os.environ.get("ANTHROPIC_API_KEY"))
    fake = None
    if real:
        settings = Settings.from_environment().model_copy(update={"llm_provider": "anthropic"})
        against = f"the real API ({settings.anthropic_base_url or 'api.anthropic.com'})"
        poll = args.poll
    else:
        from tests.fakes.anthropic_server import FakeAnthropic, Realistic, settings_for

        fake = FakeAnthropic()
        fake.default = Realistic()
        settings = settings_for(fake)
        against = (
            "THE LOCAL FAKE (no ANTHROPIC_API_KEY): realistic mode, slip rates assumed, not measured; "
            "these figures check the evaluation, not a model"
        )
        poll = 0.01
    print(f"llm-eval: against {against}", file=sys.stderr)
    models = [settings.anthropic_model, settings.anthropic_small_model]
    try:
        result = evaluate(
            settings, models=models, efforts=efforts, weeks=weeks, max_wait=args.max_wait, poll=poll
        )
    finally:
        if fake is not None:
            fake.close()
    text = "# The Claude path's pre-launch evaluation (`make llm-eval`)\n\n" + render(
        result, against=against, main=models[0], small=models[1], efforts=efforts
    )
    print(text)
    if not args.no_write:
        REPORT.write_text(text)
        print(f"written to {REPORT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
