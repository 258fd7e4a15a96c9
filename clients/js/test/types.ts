// Type-level tests, checked by `tsc --noEmit` (npm run typecheck): what a TypeScript app writes
// against the package must compile, and what it must not write must not.
import {
  type ApiErrorCode,
  type ErrorCode,
  type GenerationErrorCode,
  type ProgramStatus,
  type ProgramUpdatedMessage,
  type TrainingProgram,
  TpgApiError,
  TpgClient,
  isAbortError,
  isFinal,
  isInFlight,
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
    // A TpgApiError, or what getToken threw (a plain Error).
    onError: (error, willRetry) => void (error instanceof TpgApiError ? willRetry && error.isTransient() : error.message),
    onTransport: (kind) => assertType<Equal<typeof kind, "realtime" | "polling">>(true),
  });

  // The status tells the body apart: completed has its program, failed and cancelled an error.
  if (final.status === "completed") {
    const whole: TrainingProgram = final.program;
    void whole;
  } else {
    const code: GenerationErrorCode | (string & {}) = final.error.code;
    if (code === "MEDICAL_CLEARANCE_REQUIRED" || code === "SOMETHING_NEWER") void code;
  }

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
  assertType<Equal<typeof final.status, "completed" | "failed" | "cancelled">>(true); // watch() resolves final
  const any: ProgramStatus = await client.getProgram(started.programId);
  assertType<Equal<typeof any.status, "pending" | "processing" | "completed" | "failed" | "cancelled">>(true);
  if (isFinal(any)) assertType<Equal<typeof any.status, "completed" | "failed" | "cancelled">>(true);
  if (isInFlight(any)) assertType<Equal<typeof any.program, null>>(true);

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

// Request bodies: the fields with a default (weeks) may be left out.
export const named = client.start({ name: "x" });
export const bare = client.start();
export const noted = client.createProgram({ notes: "deload every 4th week" });

// The browser's WebSocket (lib "dom") and fetch are accepted as they are.
export const browser = new TpgClient({ WebSocket });
export const explicit = new TpgClient({ WebSocket: globalThis.WebSocket, fetch: globalThis.fetch });

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
  void generation.start({ name: "x" });
  void generation.cancel();
  const cancelProblem: TpgApiError | Error | null = generation.cancelError;
  void cancelProblem;
  return generation.progress;
}
