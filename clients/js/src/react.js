"use client";
/**
 * useProgramGeneration: a program's generation as React state.
 *
 *   const client = new TpgClient({ ... });            // once: module scope, or useMemo
 *   const generation = useProgramGeneration(client);
 *   <button onClick={() => generation.start({ weeks: 4 })} disabled={generation.isWorking}>
 *   {generation.status}: {generation.progress}%   generation.cancel()   generation.retry()
 *
 * On mount it resumes what `client.current()` finds (the remembered program, else the one in
 * flight) unless `resume: false`, or follows `programId` when given (and a new `programId` when it
 * changes). The client is read from a ref: a new client object on a render is used from the next
 * call on, and restarts nothing. What runs (a start, a watch) is aborted when the component really
 * unmounts or another one starts, never by StrictMode's simulated unmount; no state update lands
 * after unmount. The calls (start, retry, cancel) never reject: their errors are in `error`, and a
 * failed cancel in `cancelError` (the watch goes on).
 */
import { useCallback, useEffect, useReducer, useRef } from "react";
import { isAbortError, isFinal, TpgApiError } from "./index.js";

const INITIAL = { phase: "idle", programId: null, program: null, error: null, cancelError: null, transport: null };

function reducer(state, action) {
  switch (action.type) {
    case "reset":
      return INITIAL;
    case "starting":
      return { ...INITIAL, phase: "starting" };
    case "watching":
      return {
        ...state,
        phase: "watching",
        programId: action.programId,
        error: null,
        cancelError: null,
        program: state.programId === action.programId ? state.program : null,
      };
    case "update":
      return { ...state, program: action.program };
    case "transport":
      return { ...state, transport: action.transport };
    case "cancelRequested":
      return {
        ...state,
        cancelError: null,
        program: state.program ? { ...state.program, cancelRequested: true } : state.program,
      };
    case "cancelError":
      return { ...state, cancelError: action.error };
    case "done":
      return { ...state, phase: "done", program: action.program, error: null, cancelError: null, transport: null };
    case "error":
      return { ...state, phase: "error", error: action.error, transport: null };
    default:
      return state;
  }
}

/** The program a 409 GENERATION_IN_FLIGHT names (a retry while another generation runs), or null. */
function inFlightElsewhere(error) {
  return error instanceof TpgApiError && error.code === "GENERATION_IN_FLIGHT" && error.programId ? error.programId : null;
}

export function useProgramGeneration(client, options = {}) {
  const [state, rawDispatch] = useReducer(reducer, INITIAL);
  const { resume = true, programId: initialProgramId = null } = options;
  // The latest client: a new object every render (created inline) must not restart anything.
  const clientRef = useRef(client);
  clientRef.current = client;
  const unmounted = useRef(false); // false before the first mount too: a start() from a child's effect counts
  const current = useRef(null); // the AbortController of what runs now (a start, a watch)
  const programIdRef = useRef(null); // the program followed (set at once, not at the next render)
  const phaseRef = useRef(state.phase);
  phaseRef.current = state.phase;
  const unmountTimer = useRef(null);
  const initialized = useRef(false);

  // No state update after unmount: between StrictMode's simulated unmount and its remount nothing
  // asynchronous runs, so nothing is lost there either.
  const dispatch = useCallback((action) => {
    if (!unmounted.current) rawDispatch(action);
  }, []);

  /** Abort what runs and hand out a controller for what comes next. */
  const takeOver = useCallback(() => {
    if (current.current) current.current.abort();
    const controller = new AbortController();
    current.current = controller;
    return controller;
  }, []);

  const fail = useCallback(
    (controller, error) => {
      if (!controller.signal.aborted && !isAbortError(error)) dispatch({ type: "error", error });
    },
    [dispatch],
  );

  const follow = useCallback(
    (programId) => {
      const controller = takeOver();
      const signal = controller.signal;
      programIdRef.current = programId;
      dispatch({ type: "watching", programId });
      clientRef.current
        .watch(programId, {
          signal,
          onUpdate: (program) => {
            if (!signal.aborted) dispatch({ type: "update", program });
          },
          onTransport: (transport) => {
            if (!signal.aborted) dispatch({ type: "transport", transport });
          },
        })
        .then(
          (program) => {
            if (!signal.aborted) dispatch({ type: "done", program });
          },
          (error) => fail(controller, error),
        );
    },
    [dispatch, takeOver, fail],
  );

  /** What client.current() finds (the remembered program, else the one in flight), followed. */
  const resumeCurrent = useCallback(() => {
    const controller = takeOver();
    clientRef.current.current({ signal: controller.signal }).then(
      (program) => {
        if (controller.signal.aborted) return;
        if (program) follow(program.programId);
        else if (phaseRef.current === "starting") dispatch({ type: "reset" }); // nothing was started
      },
      (error) => fail(controller, error),
    );
  }, [dispatch, takeOver, follow, fail]);

  const start = useCallback(
    async (body) => {
      const controller = takeOver();
      programIdRef.current = null;
      dispatch({ type: "starting" });
      try {
        const started = await clientRef.current.start(body, { signal: controller.signal });
        if (controller.signal.aborted) return null;
        follow(started.programId);
        return started;
      } catch (error) {
        fail(controller, error);
        return null;
      }
    },
    [dispatch, takeOver, follow, fail],
  );

  const retry = useCallback(async () => {
    const programId = programIdRef.current;
    if (!programId) return null;
    const controller = takeOver();
    try {
      await clientRef.current.retry(programId, { signal: controller.signal });
    } catch (error) {
      const other = inFlightElsewhere(error);
      if (other && !controller.signal.aborted) {
        follow(other); // another generation runs (another tab): it is the one to show
        return other;
      }
      // Retried elsewhere already (another tab): following it is all there is to do.
      if (!(error instanceof TpgApiError && error.code === "NOT_RETRYABLE")) {
        fail(controller, error);
        return null;
      }
    }
    if (!controller.signal.aborted) follow(programId);
    return programId;
  }, [takeOver, follow, fail]);

  const cancel = useCallback(async () => {
    const programId = programIdRef.current;
    if (!programId) return null;
    try {
      const answer = await clientRef.current.cancel(programId);
      if (programIdRef.current === programId) dispatch({ type: "cancelRequested" });
      return answer; // the watch shows "cancelled" when the server gets there
    } catch (error) {
      // Already final (409): the watch shows how it ended. Anything else is worth showing, beside
      // the watch, which goes on: the generation still runs.
      if (!(error instanceof TpgApiError && error.status === 409) && programIdRef.current === programId) {
        dispatch({ type: "cancelError", error });
      }
      return null;
    }
  }, [dispatch]);

  const reset = useCallback(() => {
    takeOver().abort();
    programIdRef.current = null;
    clientRef.current.forget();
    dispatch({ type: "reset" });
  }, [dispatch, takeOver]);

  // Mount and unmount. StrictMode unmounts and remounts at once: the abort waits a task, and a
  // remount before it cancels it, so what runs goes on. A remount that finds it aborted all the
  // same (an Offscreen/Activity tree hidden for a while) follows the program again.
  useEffect(() => {
    unmounted.current = false;
    clearTimeout(unmountTimer.current);
    const running = current.current && !current.current.signal.aborted;
    if (!initialized.current) {
      initialized.current = true;
      if (!running) {
        if (initialProgramId) follow(initialProgramId);
        else if (resume) resumeCurrent();
      }
    } else if (!running && (phaseRef.current === "starting" || phaseRef.current === "watching")) {
      if (programIdRef.current) follow(programIdRef.current);
      else resumeCurrent(); // a start cut short: did it reach the server? current() tells
    }
    return () => {
      unmounted.current = true;
      unmountTimer.current = setTimeout(() => {
        if (unmounted.current && current.current) current.current.abort();
      }, 0);
    };
    // Mount-time options only (`resume`, the first `programId`); a new `programId` is followed by
    // the effect below.
  }, []);

  // A new `programId` option: follow it.
  useEffect(() => {
    if (initialProgramId && initialized.current && initialProgramId !== programIdRef.current) follow(initialProgramId);
  }, [initialProgramId, follow]);

  const program = state.program;
  return {
    phase: state.phase,
    programId: state.programId,
    program,
    status: program ? program.status : null,
    stage: program ? program.stage : null,
    progress: program ? program.progress : 0,
    cancelRequested: !!(program && program.cancelRequested),
    error: state.error,
    cancelError: state.cancelError,
    transport: state.transport,
    isWorking: state.phase === "starting" || (state.phase === "watching" && !isFinal(program)),
    start,
    retry,
    cancel,
    follow,
    reset,
  };
}
