import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type { Config } from "./context.js"
import type { ApiFailure } from "./failure.js"
import { type Decision, type FaultRules, label } from "./faultRules.js"
import * as Faults from "./faults.js"
import * as Ids from "./ids.js"
import * as Incoming from "./incoming.js"
import type { Recorder } from "./recorder.js"
import * as Router from "./router.js"
import type { Store } from "./store.js"

/** @internal */
export interface AppEnv {
  readonly store: Store
  readonly config: Config
  readonly recorder: Recorder
  readonly faults: FaultRules
}

/**
 * Tink's error body as its own iOS SDK reads it (`RESTError`: `errorMessage`, `errorCode`). The
 * `requestId` field is not Tink's: only the legacy opt-in adds it.
 */
const errorResponse = (
  failure: ApiFailure,
  requestId: string,
  legacy: boolean
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(
    legacy
      ? { errorMessage: failure.errorMessage, errorCode: failure.errorCode, requestId }
      : { errorMessage: failure.errorMessage, errorCode: failure.errorCode },
    { status: failure.status, headers: failure.headers ?? {} }
  )

/**
 * Tink returns `X-Request-ID` on every response and echoes `X-Client-Trace-ID` as sent (API
 * reference, Introduction, "Tracing requests"). `X-Tink-Request-ID` is not Tink's: legacy opt-in.
 */
const traceHeaders = (
  response: HttpServerResponse.HttpServerResponse,
  incoming: Incoming.Incoming,
  requestId: string,
  legacy: boolean
): HttpServerResponse.HttpServerResponse => {
  let out = HttpServerResponse.setHeader(response, "x-request-id", requestId)
  const trace = incoming.headers["x-client-trace-id"]
  if (trace !== undefined) out = HttpServerResponse.setHeader(out, "x-client-trace-id", trace)
  return legacy ? HttpServerResponse.setHeader(out, "x-tink-request-id", requestId) : out
}

const createPath = "/api/v1/user/create"

/**
 * @internal
 * The fake Tink. Every request is recorded first (so faulted ones count too), then the fault rules
 * decide; a request answered by a fault never reaches the handlers, so it changes no state, while
 * `Truncated` and `Drop` after processing let the handler run and then spoil its answer. Time and
 * the fault draws come from the Clock and Random of the fiber running the app: the caller's, in
 * memory.
 */
export const make = (env: AppEnv): HttpApp.Default =>
  Effect.gen(function*() {
    const incoming = yield* Incoming.read
    const requestId = Ids.requestId()
    env.recorder.record(Incoming.toRecorded(incoming))
    const needed = env.faults.drawsNeeded
    const draws = needed === 0 ? [] : yield* Effect.all(Array.from({ length: needed }, () => Random.next))
    const decision = env.faults.take(incoming.method, incoming.path, draws)
    if (decision.latencyMillis > 0) env.recorder.fault("Latency")
    const handle = answer(env, incoming, requestId, decision)
    return yield* decision.finishWhenAbandoned ? Effect.uninterruptible(handle) : handle
  })

const answer = (
  env: AppEnv,
  incoming: Incoming.Incoming,
  requestId: string,
  decision: Decision
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.gen(function*() {
    if (decision.latencyMillis > 0) yield* Effect.sleep(decision.latencyMillis)
    const fault = decision.fault
    if (fault !== undefined) env.recorder.fault(label(fault))
    const now = yield* Clock.currentTimeMillis
    const outcome = fault !== undefined && !Faults.isAfterProcessing(fault)
      ? Faults.respond(fault as Faults.AnswerFault, incoming)
      : Router.route({ incoming, store: env.store, config: env.config, now })
    const response = yield* Effect.catchTag(outcome, "ApiFailure", (failure) =>
      Effect.succeed(errorResponse(failure, requestId, env.config.legacyRequestId)))
    const processed = fault === undefined || Faults.isAfterProcessing(fault)
    if (processed && incoming.method === "POST" && incoming.path === createPath && response.status === 200) {
      env.recorder.userCreated()
    }
    const answered = traceHeaders(response, incoming, requestId, env.config.legacyRequestId)
    return fault === undefined || !processed ? answered : yield* Faults.spoil(fault, answered, incoming)
  })
