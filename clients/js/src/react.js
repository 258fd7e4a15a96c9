/**
 * useProgramGeneration: a program's generation as React state.
 *
 *   const generation = useProgramGeneration(client);
 *   <button onClick={() => generation.start({ weeks: 4 })} disabled={generation.isWorking}>
 *   {generation.status}: {generation.progress}%   generation.cancel()   generation.retry()
 *
 * On mount it resumes what `client.current()` finds (the remembered program, else the one in
 * flight) unless `resume: false`, or follows `programId` when given. Every watch is aborted when
 * the component unmounts or another one starts: no state update ever lands after unmount. The
 * calls (start, retry, cancel) never reject: their errors are in `error`.
 */
import { useCallback, useEffect, useReducer, useRef } from "react";
import { isAbortError, isFinal, TpgApiError } from "./index.js";

const INITIAL = { phase: "idle", programId: null, program: null, error: null, transport: null };

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
        program: state.programId === action.programId ? state.program : null,
      };
    case "update":
      return { ...state, program: action.program };
    case "transport":
      return { ...state, transport: action.transport };
    case "cancelRequested":
      return state.program ? { ...state, program: { ...state.program, cancelRequested: true } } : state;
    case "done":
      return { ...state, phase: "done", program: action.program, transport: null };
    case "error":
      return { ...state, phase: "error", error: action.error, transport: null };
    default:
      return state;
  }
}

export function useProgramGeneration(client, options = {}) {
  const [state, dispatch] = useReducer(reducer, INITIAL);
  const current = useRef(null); // the AbortController of what runs now (a start, a watch)
  const programIdRef = useRef(null);
  programIdRef.current = state.programId;
  const { resume = true, programId: initialProgramId = null } = options;

  /** Abort what runs and hand out a controller for what comes next. */
  const takeOver = useCallback(() => {
    if (current.current) current.current.abort();
    const controller = new AbortController();
    current.current = controller;
    return controller;
  }, []);

  const fail = useCallback((controller, error) => {
    if (!controller.signal.aborted && !isAbortError(error)) dispatch({ type: "error", error });
  }, []);

  const follow = useCallback(
    (programId) => {
      const controller = takeOver();
      const signal = controller.signal;
      dispatch({ type: "watching", programId });
      client
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
    [client, takeOver, fail],
  );

  const start = useCallback(
    async (body) => {
      const controller = takeOver();
      dispatch({ type: "starting" });
      try {
        const started = await client.start(body, { signal: controller.signal });
        if (controller.signal.aborted) return null;
        follow(started.programId);
        return started;
      } catch (error) {
        fail(controller, error);
        return null;
      }
    },
    [client, takeOver, follow, fail],
  );

  const retry = useCallback(async () => {
    const programId = programIdRef.current;
    if (!programId) return null;
    const controller = takeOver();
    try {
      await client.retry(programId, { signal: controller.signal });
    } catch (error) {
      // Retried elsewhere already (another tab): following it is all there is to do.
      if (!(error instanceof TpgApiError && error.code === "NOT_RETRYABLE")) {
        fail(controller, error);
        return null;
      }
    }
    if (!controller.signal.aborted) follow(programId);
    return programId;
  }, [client, takeOver, follow, fail]);

  const cancel = useCallback(async () => {
    const programId = programIdRef.current;
    if (!programId) return null;
    try {
      const answer = await client.cancel(programId);
      if (programIdRef.current === programId) dispatch({ type: "cancelRequested" });
      return answer; // the watch shows "cancelled" when the server gets there
    } catch (error) {
      // Already final (409): the watch shows how it ended. Anything else is worth showing.
      if (!(error instanceof TpgApiError && error.status === 409) && programIdRef.current === programId) {
        dispatch({ type: "error", error });
      }
      return null;
    }
  }, [client]);

  const reset = useCallback(() => {
    takeOver().abort();
    client.forget();
    dispatch({ type: "reset" });
  }, [client, takeOver]);

  useEffect(() => {
    if (initialProgramId) follow(initialProgramId);
    else if (resume) {
      const controller = takeOver();
      client.current({ signal: controller.signal }).then(
        (program) => {
          if (!controller.signal.aborted && program) follow(program.programId);
        },
        (error) => fail(controller, error),
      );
    }
    return () => {
      if (current.current) current.current.abort(); // unmounted: nothing may update state now
    };
  }, [client, initialProgramId, resume, follow, takeOver, fail]);

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
    transport: state.transport,
    isWorking: state.phase === "starting" || (state.phase === "watching" && !isFinal(program)),
    start,
    retry,
    cancel,
    follow,
    reset,
  };
}
