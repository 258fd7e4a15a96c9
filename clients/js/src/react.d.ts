import type {
  CancelResult,
  CreateProgramBody,
  GenerationStatus,
  ProgramStatus,
  Stage,
  Started,
  TpgApiError,
  TpgClient,
  Transport,
} from "./index.js";

export interface ProgramGenerationOptions {
  /** On mount, resume what client.current() finds (default true; read at mount only). */
  resume?: boolean;
  /** Follow this program from the start instead (and a new one when it changes). */
  programId?: string | null;
}

export interface ProgramGeneration {
  /** idle; starting (POST /programs); watching; done (final status); error (see `error`). */
  phase: "idle" | "starting" | "watching" | "done" | "error";
  programId: string | null;
  /** The newest status body (the program itself once completed). */
  program: ProgramStatus | null;
  status: GenerationStatus | null;
  stage: Stage | null;
  progress: number;
  cancelRequested: boolean;
  /** Why the last start, retry or watch failed (phase "error"); cleared when a watch starts or ends. */
  error: TpgApiError | Error | null;
  /** Why the last cancel() failed (not a 409: the program had finished). The phase does not change:
   * the generation and its watch go on. Cleared by the next cancel, watch or end. */
  cancelError: TpgApiError | Error | null;
  /** How updates arrive while watching. */
  transport: Transport | null;
  /** A generation is being started or is in flight. */
  isWorking: boolean;
  /** Start a generation (or follow the one in flight); null when it failed (see `error`). Aborts
   * what ran before. */
  start(body?: CreateProgramBody): Promise<Started | null>;
  /** Retry the failed or cancelled program, then follow it (or, when another generation is in
   * flight, follow that one): resolves with the id followed. */
  retry(): Promise<string | null>;
  /** Ask to cancel; the status turns "cancelled" when the server gets there (see `cancelError`). */
  cancel(): Promise<CancelResult | null>;
  /** Follow another program. */
  follow(programId: string): void;
  /** Stop following, forget the remembered program, back to idle. */
  reset(): void;
}

/**
 * The client is read on each call: create it once (module scope, or `useMemo`), not in render; a new
 * one is used from the next call on and restarts nothing.
 */
export declare function useProgramGeneration(client: TpgClient, options?: ProgramGenerationOptions): ProgramGeneration;
