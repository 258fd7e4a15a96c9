// Type-level tests, checked by `tsc --noEmit` (npm run typecheck): what a TypeScript app writes
// against the package must compile, and what it must not write must not.
import {
  type ApiErrorCode,
  type ErrorCode,
  type ProgramStatus,
  type ProgramUpdatedMessage,
  TpgApiError,
  TpgClient,
  isAbortError,
} from "../src/index.js";
import { useProgramGeneration } from "../src/react.js";
import type { operations } from "../src/openapi.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_: T): void {}

// An async token provider, refreshed after a 401.
const client = new TpgClient({
  baseUrl: "https://api.example.com",
  getToken: async ({ forceRefresh }) => (forceRefresh ? "fresh" : "cached"),
  onUnauthorized: (error) => void error.code,
  poll: { intervalMs: 500 },
});

export async function usage(signal: AbortSignal): Promise<void> {
  const started = await client.start({ weeks: 4, name: "Block one" }, { signal });
  const final: ProgramStatus = await client.watch(started.programId, {
    signal,
    onUpdate: (p) => void p.progress.toFixed(),
    onError: (error, willRetry) => void (willRetry && error.isTransient()),
    onTransport: (kind) => assertType<Equal<typeof kind, "realtime" | "polling">>(true),
  });

  // The program is fully typed, down to an exercise's rest.
  const program = final.program;
  if (program) {
    const exercise = program.schedule[0]?.days[0]?.exercises[0];
    const rest: number | undefined = exercise?.restSeconds;
    const note: string | null | undefined = exercise?.notes;
    void rest;
    void note;
    assertType<Equal<typeof program.goal, "strength" | "hypertrophy" | "fat_loss" | "general_fitness">>(true);
  }
  assertType<Equal<typeof final.status, "pending" | "processing" | "completed" | "failed" | "cancelled">>(true);

  const cancelled = await client.cancel(started.programId);
  assertType<Equal<typeof cancelled.status, "cancelled" | "processing">>(true);

  try {
    await client.retry(started.programId);
  } catch (error) {
    if (isAbortError(error)) return;
    if (error instanceof TpgApiError) {
      const code: ErrorCode = error.code;
      if (code === "QUOTA_EXCEEDED") void error.retryAfterSeconds;
      // @ts-expect-error: not a code the API or the client has
      if (code === "NO_SUCH_CODE") void 0;
    }
  }
}

// The error codes come from the OpenAPI document: per route, and as one union.
type CreateConflict = operations["createProgram"]["responses"][409]["content"]["application/json"];
assertType<Equal<CreateConflict["error"]["code"], "GENERATION_IN_FLIGHT" | "ONBOARDING_INCOMPLETE">>(true);
const known: ApiErrorCode[] = ["UNAUTHORIZED", "SUBSCRIPTION_REQUIRED", "NOT_FOUND", "REALTIME_UNAVAILABLE"];
void known;

// A realtime message names its program and when it changed.
export function newer(a: ProgramUpdatedMessage, b: ProgramUpdatedMessage): ProgramUpdatedMessage {
  return a.updatedAt > b.updatedAt ? a : b;
}

// The React hook.
export function useGeneration() {
  const generation = useProgramGeneration(client, { resume: true });
  assertType<Equal<typeof generation.phase, "idle" | "starting" | "watching" | "done" | "error">>(true);
  void generation.start({ weeks: 8 }).then((started) => started?.resumed);
  void generation.cancel();
  return generation.progress;
}
