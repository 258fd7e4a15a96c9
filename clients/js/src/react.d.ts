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
  /** On mount, resume what client.current() finds (default true). */
  resume?: boolean;
  /** Follow this program from the start instead. */
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
  /** Why the last call or watch failed (phase "error"). */
  error: TpgApiError | Error | null;
  /** How updates arrive while watching. */
  transport: Transport | null;
  /** A generation is being started or is in flight. */
  isWorking: boolean;
  /** Start a generation (or follow the one in flight); null when it failed (see `error`). */
  start(body?: CreateProgramBody): Promise<Started | null>;
  /** Retry the failed or cancelled program, then follow it. */
  retry(): Promise<string | null>;
  /** Ask to cancel; the status turns "cancelled" when the server gets there. */
  cancel(): Promise<CancelResult | null>;
  /** Follow another program. */
  follow(programId: string): void;
  /** Stop following, forget the remembered program, back to idle. */
  reset(): void;
}

export declare function useProgramGeneration(client: TpgClient, options?: ProgramGenerationOptions): ProgramGeneration;
