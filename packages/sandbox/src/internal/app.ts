import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Config } from "./context.js"
import type { ApiFailure } from "./failure.js"
import type { FaultRules } from "./faultRules.js"
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

const errorResponse = (failure: ApiFailure, requestId: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(
    { errorMessage: failure.errorMessage, errorCode: failure.errorCode, requestId },
    { status: failure.status, headers: failure.headers ?? {} }
  )

/**
 * @internal
 * The fake Tink. Every request is recorded first (so faulted ones count too), then the fault rules
 * decide; a faulted request never reaches the handlers, so it changes no state. Time comes from the
 * Clock of the fiber running the app: the caller's, in memory.
 */
export const make = (env: AppEnv): HttpApp.Default =>
  Effect.gen(function*() {
    const incoming = yield* Incoming.read
    const requestId = Ids.requestId()
    env.recorder.record(Incoming.toRecorded(incoming))
    const decision = env.faults.take(incoming.method, incoming.path)
    if (decision.latencyMillis > 0) yield* Effect.sleep(decision.latencyMillis)
    const fault = decision.fault
    const now = yield* Clock.currentTimeMillis
    const outcome = fault !== undefined && fault._tag !== "Latency"
      ? Faults.respond(fault, incoming)
      : Router.route({ incoming, store: env.store, config: env.config, now })
    const response = yield* Effect.catchTag(outcome, "ApiFailure", (failure) =>
      Effect.succeed(errorResponse(failure, requestId)))
    return HttpServerResponse.setHeader(response, "x-tink-request-id", requestId)
  })
