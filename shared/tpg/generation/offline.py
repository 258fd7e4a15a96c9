"""The offline provider: the deterministic rules engine as a generation tier."""

from __future__ import annotations

import time
from collections.abc import Callable

from tpg.generation.ports import GenerationRequest, ProviderResult
from tpg.training.analysis import EnhancedUserData
from tpg.training.engine import generate_offline_program


class OfflineProvider:
    """The deterministic rules engine: the local default and the pipeline's last tier.

    It answers in milliseconds; `latency_seconds` paces it like an LLM call (the demo uses it so
    a person can watch the stages, and benchmarks use it as a fake LLM of known latency).
    """

    name = "offline"
    tier = "offline"
    model: str | None = None

    def __init__(self, latency_seconds: float = 0.0) -> None:
        self.latency_seconds = latency_seconds

    def generate(
        self, data: EnhancedUserData, request: GenerationRequest, *, on_progress: Callable[[int], None]
    ) -> ProviderResult:
        program = generate_offline_program(data, weeks=request.weeks, name=request.name)
        if self.latency_seconds > 0:
            steps = max(1, int(self.latency_seconds / 0.25))
            for step in range(1, steps + 1):
                time.sleep(self.latency_seconds / steps)
                on_progress(100 * step // steps)
        return ProviderResult(program=program, model=None)
