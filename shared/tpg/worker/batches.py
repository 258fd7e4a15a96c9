"""The batch step: batch members through Anthropic's Message Batches API (docs/architecture.md, "Batches").

Run by the sweeper on every tick (`run_batches`), within `BATCH_STEP_SECONDS`:

1. **Poll**: each Message Batch still running is asked for its status (and asked to stop when its
   batch was cancelled); one that has ended is collected at once.
2. **Collect**: its results (JSONL) are read; each member's answer is judged by the generation
   pipeline itself, with the answer as its only tier (`StoredAnswer`): the same parsing, clamps,
   expansion and validation as a live answer. A valid one completes the member on the spot (one
   statement, fenced on `batched`); any other (invalid, refused by the schema, errored, expired,
   canceled, missing) sends it to the normal queue, its answer kept for the repair round.
3. **Submit**: members not yet asked for are analysed and their requests submitted, up to
   `BATCH_CHUNK_SIZE` per Message Batch (within the API's 100,000 requests and 256 MB).
4. **Queue**: members sent to the queue become `pending` at the lowest priority, at most
   `BATCH_QUEUE_SLOTS` of them in the queue at once, so a batch's fallbacks (full LLM calls) never
   take more of generate than that. The generate worker runs them through the normal tiers, the
   kept answer first with its one repair round (`member_providers`).

With `LLM_PROVIDER=offline` there are no Message Batches: every member goes to the queue, without a
bound (the rules engine answers in milliseconds), and the rules engine writes its program.

Crash-safe by construction: a member moves only by a conditional statement on `batched`; a step that
dies while collecting leaves the chunk's lease to run out, and the next step reads the results
again, skipping the members already moved. A step that dies between creating a Message Batch and
recording it leaves a `submitting` chunk whose lease runs out: its members are submitted again
(the orphan Message Batch is paid for once and never read).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import ValidationError

from tpg.generation.offline import OfflineProvider
from tpg.generation.pipeline import PipelineResult, catalog_lifts_only, run_program_generation_pipeline
from tpg.generation.ports import GenerationError, GenerationRequest, LlmUsage, ProgramProvider
from tpg.platform.observability import Metric, count, describe_unexpected, logger
from tpg.platform.settings import Settings
from tpg.realtime.push import ProgramUpdates
from tpg.store import batches as store
from tpg.store.db import Database
from tpg.store.repository import LlmRecord
from tpg.store.rows import JobState, user_data_from_row
from tpg.training.analysis import analyse
from tpg.worker.events import EventPublisher

if TYPE_CHECKING:  # the SDK is imported only where Message Batches are used
    import anthropic

    from tpg.generation.claude.batch import BatchAnswer, BatchAsk

# A step holds a chunk while it submits it (longer than any step runs: another step never takes it
# over while the first is alive) and while it collects it (a dead collector's chunk is read again
# after this).
SUBMIT_LEASE_SECONDS = 900
COLLECT_LEASE_SECONDS = 300
# Anthropic ends a Message Batch within 24 h: a chunk submitted 25 h ago, or a member batched 26 h
# ago (never submitted, or its chunk never collected), goes through the normal queue instead.
OVERDUE_CHUNK_SECONDS = 25 * 3600
OVERDUE_MEMBER_SECONDS = 26 * 3600
# The Message Batches API's limit on one batch's body; requests past it go in the next chunk.
MAX_BATCH_BYTES = 200 * 1024 * 1024  # 256 MB, less a margin for the JSON around each request
# Members marked for the queue are written this many at a time while results are read.
_FLUSH_EVERY = 100


@dataclass(slots=True)
class BatchReport:
    submitted_chunks: int = 0
    submitted_members: int = 0
    completed: int = 0  # members whose batch answer passed validation
    to_queue: int = 0  # members sent to the normal queue (by this step)
    queued: int = 0  # members moved into the queue (pending) by this step
    ended_chunks: int = 0
    collected_chunks: int = 0
    waiting: int = 0
    oldest_wait_seconds: float = 0.0
    results: dict[str, int] = field(default_factory=dict)  # per result kind, for the metric

    def as_dict(self) -> dict[str, int]:
        return {
            "batchSubmitted": self.submitted_members,
            "batchCompleted": self.completed,
            "batchToQueue": self.to_queue,
            "batchQueued": self.queued,
            "batchWaiting": self.waiting,
        }

    def result(self, kind: str, n: int = 1) -> None:
        self.results[kind] = self.results.get(kind, 0) + n


ClientFactory = Callable[[], "anthropic.Anthropic"]


@dataclass(slots=True)
class _Step:
    settings: Settings
    db: Database
    updates: ProgramUpdates
    events: EventPublisher
    client: ClientFactory
    deadline: float
    report: BatchReport = field(default_factory=BatchReport)

    def time_left(self) -> bool:
        return time.monotonic() < self.deadline


def run_batches(
    settings: Settings,
    db: Database,
    *,
    updates: ProgramUpdates | None = None,
    events: EventPublisher | None = None,
    client: ClientFactory | None = None,
) -> BatchReport:
    """One batch step (the sweeper's): poll, collect, submit, queue. `client` gives the SDK client
    (tests); by default the one the settings configure."""
    step = _Step(
        settings=settings,
        db=db,
        updates=updates or ProgramUpdates(),
        events=events or EventPublisher(None),
        client=client or _default_client(settings),
        deadline=time.monotonic() + settings.batch_step_seconds,
    )
    report = step.report
    slots: int | None = settings.batch_queue_slots
    if settings.llm_provider == "anthropic" and _client_ready(step):
        store.abandon_stale_submissions(db)
        _poll_and_collect(step)
        _submit(step)
        # B1's bound: whatever the API does, no member waits on a Message Batch past a day or so
        overdue = store.queue_overdue_members(
            db, chunk_seconds=OVERDUE_CHUNK_SECONDS, member_seconds=OVERDUE_MEMBER_SECONDS
        )
        if overdue:
            logger.error("batch members overdue; they go through the queue", extra={"members": overdue})
            report.to_queue += overdue
            report.result("overdue", overdue)
    else:
        report.to_queue += store.queue_every_waiting_member(db)
        slots = None
    report.queued = len(
        store.release_to_queue(db, slots=slots, aging_seconds=settings.priority_aging_seconds)
    )
    figures = store.waiting_figures(db)
    report.waiting, report.oldest_wait_seconds = figures.batched, figures.oldest_seconds
    _emit(report)
    return report


def _client_ready(step: _Step) -> bool:
    """Whether the Message Batches API can be called: without a key (LLM_PROVIDER=anthropic and no
    ANTHROPIC_API_KEY) the members take the queue, where the tiers fall back as they do for anyone."""
    try:
        step.client()
    except GenerationError as exc:  # LLM_NOT_CONFIGURED
        logger.error(
            "no Anthropic key for the batch step; members go through the queue", extra={"code": exc.code}
        )
        return False
    return True


def _default_client(settings: Settings) -> ClientFactory:
    def build() -> anthropic.Anthropic:
        from tpg.generation.claude.client import get_client

        return get_client(settings)

    return build


def _emit(report: BatchReport) -> None:
    count(Metric.BATCH_MEMBERS_WAITING, report.waiting)
    count(Metric.BATCH_OLDEST_WAIT, round(report.oldest_wait_seconds))
    for kind, n in report.results.items():
        count(Metric.BATCH_RESULTS, n, dimensions={"Result": kind})
    if report.submitted_members or report.completed or report.to_queue or report.queued:
        logger.info(
            "batch step",
            extra={**report.as_dict(), "oldest_wait_s": round(report.oldest_wait_seconds)},
        )


# --- Poll and collect ---------------------------------------------------------------------------


def _poll_and_collect(step: _Step) -> None:
    import anthropic
    import httpx2

    for chunk in store.open_chunks(step.db):
        if not step.time_left():
            return
        try:
            if chunk.state == "in_progress" and not _ended(step, chunk):
                continue
            _collect(step, chunk)
        except anthropic.NotFoundError:
            # The API no longer knows it (deleted, or its results are gone after 29 days): its
            # members go through the queue.
            logger.error("a Message Batch is unknown to the API", extra={"chunk_id": str(chunk.chunk_id)})
            store.record_ended(step.db, chunk.chunk_id, {})
            step.report.to_queue += store.finish_collecting(step.db, chunk.chunk_id).missing
        except (anthropic.APIError, httpx2.HTTPError, OSError) as exc:  # the next step tries again
            logger.warning(
                "could not poll a Message Batch",
                extra={"chunk_id": str(chunk.chunk_id), "error_type": type(exc).__name__},
            )


def _ended(step: _Step, chunk: store.OpenChunk) -> bool:
    """Whether a running chunk's Message Batch has ended (asking it to stop, once, when its batch
    was cancelled and it still runs); an ended one is recorded so."""
    import anthropic
    import httpx2

    batches = step.client().messages.batches
    message_batch = batches.retrieve(chunk.message_batch_id)
    if chunk.cancel_requested and not chunk.cancel_sent:
        if message_batch.processing_status == "in_progress":
            try:
                batches.cancel(chunk.message_batch_id)
            except (anthropic.APIError, httpx2.HTTPError, OSError) as exc:
                # It may have ended meanwhile (the API refuses to cancel an ended batch): the
                # results are read as they are; an error that is not that, the next step asks again.
                logger.warning(
                    "could not cancel a Message Batch",
                    extra={"chunk_id": str(chunk.chunk_id), "error_type": type(exc).__name__},
                )
            else:
                store.record_cancel_sent(step.db, chunk.chunk_id)
        else:  # ended or ending already: nothing to stop
            store.record_cancel_sent(step.db, chunk.chunk_id)
    if message_batch.processing_status != "ended":
        return False
    store.record_ended(step.db, chunk.chunk_id, message_batch.request_counts.model_dump())
    step.report.ended_chunks += 1
    return True


def _collect(step: _Step, chunk: store.OpenChunk) -> None:
    """Judge each waiting member's result; the chunk is collected once every result was read."""
    from tpg.generation.claude.batch import BatchAsk, count_usage

    db = step.db
    if not store.take_for_collecting(db, chunk.chunk_id, lease_seconds=COLLECT_LEASE_SECONDS):
        return  # another step is collecting it
    waiting = store.awaiting_results(db, chunk.chunk_id)
    held = store.answers_held(db, chunk.chunk_id)
    asked = BatchAsk(model=chunk.model, ask="full" if chunk.ask == "full" else "compact")
    collector = _Collector(step, chunk.chunk_id, chunk.message_batch_id, asked, held)
    finished = False
    try:
        finished = collector.read(waiting)
    finally:
        collector.flush()
        if finished:
            collected = store.finish_collecting(db, chunk.chunk_id, collector.unsaved_usage())
            if collected.recorded and collector.unsaved is not None:
                count_usage(collector.unsaved)  # once: the chunk's unsaved usage is written once
            step.report.to_queue += collected.missing
            if collected.missing:
                step.report.result("missing", collected.missing)
            step.report.collected_chunks += 1
        else:
            store.release_chunk(db, chunk.chunk_id)


@dataclass(slots=True)
class _Collector:
    """Reads every line of a chunk's results once: judges the waiting members' answers, and adds up
    the succeeded answers no program holds (billed all the same), kept only when the read finishes
    (a read cut short starts over, so nothing is counted twice)."""

    step: _Step
    chunk_id: UUID
    message_batch_id: str
    asked: BatchAsk
    held: set[UUID]
    to_queue: list[tuple[UUID, dict[str, Any] | None]] = field(default_factory=list)
    queued_usage: dict[UUID, LlmUsage] = field(default_factory=dict)
    unsaved: LlmUsage | None = None
    unsaved_answers: int = 0

    def read(self, waiting: dict[UUID, store.MemberJob]) -> bool:
        """Read the results; False when the step's time ran out first."""
        from tpg.generation.claude.batch import billed_usage

        step = self.step
        results = step.client().messages.batches.results(self.message_batch_id)
        try:
            for line in results:
                program_id = _program_id(line.custom_id)
                member = waiting.pop(program_id, None) if program_id is not None else None
                if member is not None:
                    self._judge(member, line.result)
                elif line.result.type == "succeeded" and program_id not in self.held:
                    self._unsaved(billed_usage(line.result.message, step.settings, self.asked))
                if len(self.to_queue) >= _FLUSH_EVERY:
                    self.flush()
                if not step.time_left():
                    return False
        finally:
            results.close()
        return True

    def _unsaved(self, usage: LlmUsage) -> None:
        self.unsaved = usage if self.unsaved is None else self.unsaved + usage
        self.unsaved_answers += 1

    def unsaved_usage(self) -> store.UnsavedUsage:
        usage = self.unsaved or LlmUsage()
        return store.UnsavedUsage(
            answers=self.unsaved_answers,
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cost_usd=usage.cost_usd or 0.0,
        )

    def _judge(self, member: store.MemberJob, result: Any) -> None:
        from tpg.generation.claude.batch import BatchAnswer

        report = self.step.report
        if result.type != "succeeded":  # errored, expired, canceled: the normal tiers answer
            report.result(result.type)
            self.to_queue.append((member.program_id, None))
            return
        answer = BatchAnswer.from_message(result.message, self.step.settings, self.asked)
        judged = _validated(member, answer)
        report.result("valid" if judged is not None else "invalid")
        if judged is None:
            self.to_queue.append((member.program_id, answer.to_json()))
            self.queued_usage[member.program_id] = answer.usage
            return
        state = store.complete_member(self.step.db, self.chunk_id, member.program_id, judged)
        if state is not None:
            self._completed(state)
        else:  # cancelled while it was judged: billed, held by no program
            self._unsaved(answer.usage)

    def _completed(self, state: JobState) -> None:
        step = self.step
        step.report.completed += 1
        step.updates.publish([state])
        step.events.generation_finished(state.program_id, "completed")
        count(Metric.GENERATIONS_COMPLETED)

    def flush(self) -> None:
        if self.to_queue:
            marked = set(store.send_to_queue(self.step.db, self.to_queue, chunk_id=self.chunk_id))
            self.step.report.to_queue += len(marked)
            for program_id, _ in self.to_queue:
                usage = self.queued_usage.pop(program_id, None)
                if usage is not None and program_id not in marked:  # cancelled meanwhile
                    self._unsaved(usage)
            self.to_queue = []


def _program_id(custom_id: str) -> UUID | None:
    try:
        return UUID(custom_id)
    except ValueError:
        return None


def _validated(member: store.MemberJob, answer: BatchAnswer) -> store.MemberResult | None:
    """The member's program from its answer when the pipeline's validation passes it, else None."""
    from tpg.generation.claude.batch import StoredAnswer

    try:
        user = user_data_from_row(member.profile)
        request = GenerationRequest(
            weeks=member.request.weeks, name=member.request.name, notes=member.request.notes
        )
        result = run_program_generation_pipeline(
            user, request, provider=[StoredAnswer(answer)], progress=lambda stage, progress: None
        )
    except (GenerationError, ValidationError):
        return None
    except Exception as exc:  # a bug must not stop the chunk: the member goes through the queue
        logger.error("judging a batch answer failed", extra=describe_unexpected(exc))
        return None
    return member_result(result)


def member_result(result: PipelineResult) -> store.MemberResult:
    usage = result.usage
    return store.MemberResult(
        program=result.program.model_dump(mode="json", by_alias=True),
        provider=result.provider,
        model=result.model,
        fallback_tier=result.fallback_tier,
        validation_report=result.report.model_dump(mode="json"),
        usage=usage.to_json(),
        llm=llm_record(result),
    )


def llm_record(result: PipelineResult) -> LlmRecord:
    """The LLM columns stored with a program (cache key, prompt version, tokens, cost): the same
    for a program the worker wrote and for a batch member's."""
    usage = result.usage
    return LlmRecord(
        request_fingerprint=result.fingerprint,
        prompt_version=result.prompt_version,
        llm_requests=usage.requests,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_input_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens,
        llm_latency_ms=usage.latency_ms,
        thinking_tokens=usage.thinking_tokens,
        llm_cost_usd=None if usage.cost_usd is None else round(usage.cost_usd, 6),
    )


# --- Submit -----------------------------------------------------------------------------------------


def _submit(step: _Step) -> None:
    import anthropic
    import httpx2

    from tpg.generation.claude.batch import BatchAsk
    from tpg.generation.claude.client import is_transient

    asked = BatchAsk.from_settings(step.settings)
    while step.time_left():
        work = store.open_chunk(
            step.db,
            size=step.settings.batch_chunk_size,
            lease_seconds=SUBMIT_LEASE_SECONDS,
            model=asked.model,
            ask=asked.ask,
        )
        if work is None:
            return
        requests = _requests(step, work, asked)
        if not requests:
            store.abandon_chunk(step.db, work.chunk_id)
            continue
        if not step.time_left():
            # Building the chunk took the step's time: a create now could outlive the step's lease
            # on it (and be submitted twice); the next step submits these members.
            store.abandon_chunk(step.db, work.chunk_id)
            return
        try:
            created = step.client().messages.batches.create(requests=requests)  # type: ignore[arg-type]
        except anthropic.APIStatusError as exc:
            store.abandon_chunk(step.db, work.chunk_id)
            if is_transient(exc):  # rate limited, overloaded: the next step submits them again
                logger.warning(
                    "could not submit a Message Batch; next step", extra={"status": exc.status_code}
                )
                return
            # The API refuses these requests (a 4xx): asking again would be refused again.
            logger.error(
                "Message Batch refused; its members go through the queue", extra={"status": exc.status_code}
            )
            marked = store.send_to_queue(step.db, [(UUID(r["custom_id"]), None) for r in requests])
            step.report.to_queue += len(marked)
            continue
        except (anthropic.APIError, httpx2.HTTPError, OSError) as exc:
            store.abandon_chunk(step.db, work.chunk_id)
            logger.warning(
                "could not submit a Message Batch; next step", extra={"error_type": type(exc).__name__}
            )
            return
        if not store.record_submitted(step.db, work.chunk_id, created.id):
            # This step lost the chunk while the API call ran: its members were freed for another
            # submission, so this Message Batch must not be paid for twice.
            logger.error("a Message Batch was submitted for an abandoned chunk; cancelling it")
            try:
                step.client().messages.batches.cancel(created.id)
            except (anthropic.APIError, httpx2.HTTPError, OSError) as exc:
                logger.warning("could not cancel it", extra={"error_type": type(exc).__name__})
            continue
        step.report.submitted_chunks += 1
        step.report.submitted_members += len(requests)
        count(Metric.BATCH_REQUESTS_SUBMITTED, len(requests))


def _requests(step: _Step, work: store.ChunkWork, asked: BatchAsk) -> list[dict[str, Any]]:
    """The chunk's requests. Members whose profile the pipeline would refuse (invalid data, a
    referral) go to the queue, where the worker records why; members past the size limit are
    returned for the next chunk."""
    import json

    from tpg.generation.claude.batch import member_request

    requests: list[dict[str, Any]] = []
    refused: list[tuple[UUID, dict[str, Any] | None]] = []
    overflow: list[UUID] = []
    size = 0
    for member in work.members:
        try:
            data = analyse(catalog_lifts_only(user_data_from_row(member.profile)))
        except ValidationError:
            refused.append((member.program_id, None))
            continue
        if data.referral is not None:
            refused.append((member.program_id, None))
            continue
        request = GenerationRequest(
            weeks=member.request.weeks, name=member.request.name, notes=member.request.notes
        )
        entry = member_request(step.settings, asked, data, request, custom_id=str(member.program_id))
        entry_size = len(json.dumps(entry))
        if requests and size + entry_size > MAX_BATCH_BYTES:
            overflow.append(member.program_id)
            continue
        size += entry_size
        requests.append(entry)
    if refused:
        step.report.to_queue += len(store.send_to_queue(step.db, refused, chunk_id=work.chunk_id))
    if overflow:
        store.return_to_submission(step.db, work.chunk_id, overflow)
    return requests


# --- The worker's side ------------------------------------------------------------------------------


def member_providers(settings: Settings, db: Database, program_id: UUID) -> list[ProgramProvider] | None:
    """A batch member's tiers in the worker: its kept batch answer first, with the one repair round
    of the tier it stands for, then the tiers after that one and the rules engine. None when it has
    no kept answer (errored, expired, the rules engine serves): the normal tiers then."""
    if settings.llm_provider != "anthropic":
        return None
    kept = store.stored_answer(db, program_id)
    if kept is None:
        return None
    from tpg.generation.claude.batch import BatchAnswer, RepairableStoredAnswer, StoredAnswer
    from tpg.generation.claude.client import claude_tiers

    answer = BatchAnswer.from_json(kept)
    tiers = claude_tiers(settings)
    index = next((i for i, t in enumerate(tiers) if (t.ask, t.model) == (answer.ask, answer.model)), None)
    if index is None:  # the tiers changed since it was asked: the answer, unrepaired, then all of them
        return [StoredAnswer(answer), *tiers, OfflineProvider()]
    return [RepairableStoredAnswer(answer, tiers[index]), *tiers[index + 1 :], OfflineProvider()]
