/**
 * Types of @tpg/client. The bodies come from the API's OpenAPI document (openapi.d.ts, generated
 * by openapi-typescript from ../openapi.json: `npm run generate`); the client's own API is here.
 */
import type { components, operations, paths } from "./openapi.js";

export type { components, operations, paths };

type Schemas = components["schemas"];

/** pending and processing are in flight; completed, failed and cancelled are final. */
export type GenerationStatus = Schemas["GenerationStatus"];
export type Stage = Schemas["Stage"];
export type TrainingProgram = Schemas["TrainingProgram"];
export type TrainingWeek = Schemas["TrainingWeek"];
export type TrainingDay = Schemas["TrainingDay"];
export type ExercisePrescription = Schemas["ExercisePrescription"];
/** POST /programs: every field optional (weeks defaults to 4). */
export type CreateProgramBody = Schemas["CreateProgramRequest"];
export type AcceptedResponse = Schemas["AcceptedResponse"];
export type RealtimeTicket = Schemas["RealtimeTicketResponse"];

/** The codes a failed generation is known to carry; the set is open: treat others like INTERNAL_ERROR. */
export type GenerationErrorCode =
  | "INVALID_USER_DATA"
  | "INVALID_PROGRAM"
  | "MEDICAL_CLEARANCE_REQUIRED"
  | "ATTEMPTS_EXHAUSTED"
  | "WORKER_LOST"
  | "NEVER_CLAIMED"
  | "QUEUE_TIMEOUT"
  | "INTERNAL_ERROR"
  | "CANCELLED";
/** A failed or cancelled generation's reason (inside a 200 status body): `code` completes as a
 * GenerationErrorCode and accepts any other string (the set is open). */
export type ProgramError = Omit<Schemas["ProgramError"], "code"> & { code: GenerationErrorCode | (string & {}) };

export type FinalStatus = "completed" | "failed" | "cancelled";
export type InFlightStatus = "pending" | "processing";
type StatusBody = Omit<Schemas["ProgramResponse"], "status" | "program" | "error">;
/** A completed program's status body: `program` is there. */
export type CompletedProgramStatus = StatusBody & { status: "completed"; program: TrainingProgram; error: null };
/** A failed or cancelled program's: `error` says why (CANCELLED for a cancel). */
export type EndedProgramStatus = StatusBody & { status: "failed" | "cancelled"; program: null; error: ProgramError };
/** A program in flight: `stage` and `progress` move; `error` may tell why an attempt failed before. */
export type InFlightProgramStatus = StatusBody & { status: InFlightStatus; program: null; error: ProgramError | null };
/** GET /programs/{id}: the status and, when completed, the program; told apart by `status`, so
 * `if (s.status === "completed") s.program` is a TrainingProgram. */
export type ProgramStatus = CompletedProgramStatus | EndedProgramStatus | InFlightProgramStatus;
/** What watch() resolves with: a final status body. */
export type FinalProgramStatus = CompletedProgramStatus | EndedProgramStatus;
/** An item of GET /programs (no `program`). */
export type ProgramSummary = Schemas["ProgramSummary"];
export type ProgramList = Schemas["ProgramList"];
/** POST /programs/{id}/cancel (202): cancelled (it was pending), or processing until its worker stops. */
export type CancelResult = Schemas["CancelResponse"];

/** Every code an error body of the API carries (the document's ErrorCode). */
export type ApiErrorCode = Schemas["ErrorCode"];
/** Codes the client gives errors that carry none from the API. */
export type ClientErrorCode = "NETWORK_ERROR" | "POLL_TIMEOUT" | "HTTP_ERROR" | "INVALID_RESPONSE";
export type ErrorCode = ApiErrorCode | ClientErrorCode;

export declare const CLIENT_ERROR_CODES: readonly ClientErrorCode[];

export declare class TpgApiError extends Error {
  constructor(
    status: number,
    code: ErrorCode,
    message?: string,
    details?: { programId?: string | null; retryAfterSeconds?: number | null; cause?: unknown; body?: unknown },
  );
  readonly name: "TpgApiError";
  /** The HTTP status; 0 when there was no answer (NETWORK_ERROR) or none applies (POLL_TIMEOUT). */
  status: number;
  code: ErrorCode;
  /** GENERATION_IN_FLIGHT: the program to follow; POLL_TIMEOUT: the program watched. */
  programId: string | null;
  /** Retry-After in seconds (an HTTP date is converted), or null. */
  retryAfterSeconds: number | null;
  /** The parsed body of the answer, if any. */
  body: unknown;
  /** NETWORK_ERROR: what fetch threw; INVALID_RESPONSE: the parse error. */
  cause?: unknown;
  /** No answer, a server fault, a throttle: worth asking again later (not QUOTA_EXCEEDED, not POLL_TIMEOUT). */
  isTransient(): boolean;
}

/** True for what a call rejects with when its signal aborts (the reason given to abort(), if an
 * object; else an AbortError), and for fetch's AbortError and TimeoutError. */
export declare function isAbortError(error: unknown): boolean;
/** completed, failed or cancelled; narrows a ProgramStatus to those. */
export declare function isFinal<T extends { status: string }>(
  program: T | null | undefined,
): program is T & { status: FinalStatus };
/** pending or processing; narrows a ProgramStatus to those. */
export declare function isInFlight<T extends { status: string }>(
  program: T | null | undefined,
): program is T & { status: InFlightStatus };
export declare function parseRetryAfter(value: string | null | undefined, now?: number): number | null;
export declare function compareTimestamps(a: string | null | undefined, b: string | null | undefined): number;

export interface PollOptions {
  /** Between polls while something changes (default 1000). */
  intervalMs?: number;
  /** The cap of the backoff; a hidden tab polls at this rate (default 5000). */
  maxIntervalMs?: number;
  /** Each unchanged answer stretches the wait by this (default 1.5). */
  backoff?: number;
  /** Then POLL_TIMEOUT; the generation goes on server side (default 300000). */
  timeoutMs?: number;
  /** Transient errors in a row before giving up (default 8). */
  maxConsecutiveErrors?: number;
  /** Once the socket has carried an update of the program: a GET this often, in case one was lost
   * (default 15000). Until then, polling goes on at its pace. */
  realtimeCheckMs?: number;
  /** First wait before reopening a lost socket; doubles up to 30 s (default 1000). After 3
   * tickets or sockets failed in a row, the watch polls to its end. */
  reconnectMs?: number;
  /** A `{"type":"ping"}` this often keeps an idle socket open (default 300000). */
  pingMs?: number;
}

export interface TokenRequest {
  /** True after a 401: return a refreshed token (e.g. supabase.auth.refreshSession()). */
  forceRefresh: boolean;
  signal?: AbortSignal;
}

/** The parts of a WebSocket the client uses: the browser's (lib "dom"), React Native's, Node 22's,
 * or e.g. the `ws` package's. Its handlers take `any`: each runtime types its events its own way. */
export interface WebSocketLike {
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface TpgClientOptions {
  /** The API's origin and stage, e.g. "https://api.example.com" ("" for the same origin). */
  baseUrl?: string;
  /** The access token, or a promise of it; called for every request. */
  getToken?: (request: TokenRequest) => string | null | undefined | Promise<string | null | undefined>;
  /** A fixed token (tests, scripts); getToken wins. */
  token?: string;
  /** A 401 that a fresh token did not cure: sign the user out. */
  onUnauthorized?: (error: TpgApiError) => void;
  /** Where the last program id is remembered (default sessionStorage; null: nowhere). */
  storage?: Pick<Storage, "getItem" | "setItem" | "removeItem"> | null;
  storageKey?: string;
  poll?: PollOptions;
  /** false: never ask for the realtime channel (default: use it when the API offers one). */
  realtime?: boolean;
  fetch?: typeof fetch;
  WebSocket?: new (url: string) => WebSocketLike;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export type Transport = "realtime" | "polling";

export interface WatchOptions extends PollOptions, CallOptions {
  /** Every update, newest last: never an older one after a newer one. */
  onUpdate?: (program: ProgramStatus) => void;
  /** A failed poll (a TpgApiError, or what getToken threw); willRetry false: watch() rejects with it. */
  onError?: (error: TpgApiError | Error, willRetry: boolean) => void;
  /** How updates arrive, whenever that changes. */
  onTransport?: (transport: Transport) => void;
  /** false: poll only. */
  realtime?: boolean;
}

export interface Started {
  programId: string;
  status: GenerationStatus;
  /** True when a 409 GENERATION_IN_FLIGHT named a program already running: it is followed instead. */
  resumed: boolean;
}

export declare class TpgClient {
  constructor(options?: TpgClientOptions);
  static readonly POLL_DEFAULTS: Readonly<Required<PollOptions>>;
  static readonly TpgApiError: typeof TpgApiError;
  static isFinal: typeof isFinal;
  static isInFlight: typeof isInFlight;

  readonly baseUrl: string;
  readonly realtime: boolean;
  readonly pollOptions: Required<PollOptions>;

  /** One call: the parsed body, or a TpgApiError; a 401 is retried once with a refreshed token. */
  request<T = unknown>(method: string, path: string, options?: CallOptions & { body?: unknown }): Promise<T>;
  /** POST /programs (202); remembers the id. */
  createProgram(body?: CreateProgramBody, options?: CallOptions): Promise<AcceptedResponse>;
  /** POST /programs, or the program a 409 GENERATION_IN_FLIGHT names. */
  start(body?: CreateProgramBody, options?: CallOptions): Promise<Started>;
  getProgram(programId: string, options?: CallOptions): Promise<ProgramStatus>;
  listPrograms(options?: CallOptions & { limit?: number; cursor?: string | null }): Promise<ProgramList>;
  /** POST /programs/{id}/retry: a failed or cancelled program back to pending. */
  retry(programId: string, options?: CallOptions): Promise<AcceptedResponse>;
  /** POST /programs/{id}/cancel; a final program rejects with 409 PROGRAM_ALREADY_FINAL. */
  cancel(programId: string, options?: CallOptions): Promise<CancelResult>;
  /** POST /realtime/tickets; 404 REALTIME_UNAVAILABLE where the API has no realtime channel. */
  createRealtimeTicket(options?: CallOptions): Promise<RealtimeTicket>;
  findInFlight(options?: CallOptions): Promise<ProgramSummary | null>;
  /** After a reload: the remembered program (any status), else the one in flight, else null. */
  current(options?: CallOptions): Promise<ProgramStatus | ProgramSummary | null>;
  remember(programId: string): void;
  remembered(): string | null;
  forget(): void;
  /** Follow a program until completed, failed or cancelled; resolves with that status body. */
  watch(programId: string, options?: WatchOptions): Promise<FinalProgramStatus>;
}

/** `{"type": "program.updated"}`: what the realtime channel pushes (the program itself never is). */
export interface ProgramUpdatedMessage {
  type: "program.updated";
  version: 1;
  programId: string;
  status: GenerationStatus;
  stage: Stage | null;
  progress: number;
  error: ProgramError | null;
  cancelRequested: boolean;
  /** The row's updated_at, to the microsecond: keep the greatest per program. */
  updatedAt: string;
  /** GET it for the full body (on completed: the program). */
  programUrl: string;
}
