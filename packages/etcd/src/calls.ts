import type { OperationOptions, TenureError } from "@tenure/core";
import { assertValidElectionName, UnavailableError } from "@tenure/core";
import { boundedCall, type StoreLifecycle } from "@tenure/core/adapter";
import type { Etcd3 } from "etcd3";
import { BACKEND, classify, type FailureContext, mapFailure, neverSent } from "./errors.js";

/** gRPC call options (deadline, interceptors), as etcd3's KV client takes them. */
export type CallOptions = NonNullable<Parameters<Etcd3["kv"]["range"]>[1]>;
/** A grpc-js call interceptor, typed through etcd3's declarations (grpc-js is etcd3's dependency). */
type Interceptor = NonNullable<CallOptions["interceptors"]>[number];
type InterceptingCall = ReturnType<Interceptor>;
/** The public methods of grpc-js's InterceptingCall: what grpc-js calls on an interceptor's result. */
type InterceptingCallMethods = Pick<InterceptingCall, keyof InterceptingCall>;

/** Most attempts of one call that gRPC cancelled unsent (see {@link EtcdCalls.run}). */
const MAX_ATTEMPTS = 3;

/**
 * Makes a call wait for a connection ("wait for ready", gRPC's term) instead of failing at once
 * while its channel is reconnecting. Without it, a call that reaches a channel in reconnect
 * backoff fails with UNAVAILABLE ("No connection established") although the store is back and
 * the channel would be ready within milliseconds: after every outage the first call would fail,
 * and a leader could lose its term to a failure that was already over. The wait is bounded by the
 * call's deadline, so a call during an outage still fails with UNAVAILABLE within the request
 * timeout.
 *
 * grpc-js reads the flag from the call's metadata options. The metadata etcd3 passes is shared by
 * every call of its client, so the interceptor marks a copy. It delegates every other operation
 * unchanged; grpc-js calls only the methods of `InterceptingCallInterface` on it (the declared
 * return type names the class, hence the cast).
 */
const waitForReady: Interceptor = (options, nextCall) => {
  const next = nextCall(options);
  const call: InterceptingCallMethods = {
    start(metadata, listener) {
      const marked = metadata.clone();
      marked.setOptions({ ...metadata.getOptions(), waitForReady: true });
      next.start(marked, listener);
    },
    sendMessageWithContext: (context, message) => next.sendMessageWithContext(context, message),
    sendMessage: (message) => next.sendMessage(message),
    startRead: () => next.startRead(),
    halfClose: () => next.halfClose(),
    cancelWithStatus: (status, details) => next.cancelWithStatus(status, details),
    getPeer: () => next.getPeer(),
    getAuthContext: () => next.getAuthContext(),
  };
  return call as unknown as InterceptingCall;
};

/**
 * The calls of one store on its etcd connection: each bounded by the kit's {@link boundedCall}
 * (request timeout, the caller's signal, the store closing), sent with gRPC's deadline and the
 * wait-for-ready interceptor, and mapped to TenureErrors. Watches share the connection's fate: a
 * call that finds the connection failed (or gets no answer in time) ends them, so a follower does
 * not listen on a dead stream.
 */
export class EtcdCalls {
  /** The etcd3 client the calls go through. */
  readonly client: Etcd3;
  /** Time limit of one call (and gRPC deadline), in milliseconds. */
  readonly requestTimeoutMs: number;
  /** The store's open/closed state: a closed store takes no calls, and closing ends those in flight. */
  readonly lifecycle: StoreLifecycle;
  readonly #failureContext: (name: string, operation: string) => FailureContext;
  /** Ends the store's open watches with UNAVAILABLE when a call finds the connection failed. */
  readonly #watchBreakers = new Set<(error: TenureError) => void>();

  constructor(parts: {
    readonly client: Etcd3;
    readonly requestTimeoutMs: number;
    readonly lifecycle: StoreLifecycle;
    readonly failureContext: (name: string, operation: string) => FailureContext;
  }) {
    this.client = parts.client;
    this.requestTimeoutMs = parts.requestTimeoutMs;
    this.lifecycle = parts.lifecycle;
    this.#failureContext = parts.failureContext;
  }

  /**
   * Runs one etcd call (`call` may make several requests: they share its time limit): validates
   * the name and the store's state first, then bounds the call and maps every failure to a TenureError.
   */
  run<T>(
    operation: string,
    name: string,
    options: OperationOptions | undefined,
    call: (callOptions: CallOptions) => Promise<T>,
  ): Promise<T> {
    try {
      assertValidElectionName(name, { backend: BACKEND });
      this.lifecycle.assertOpen({ election: name, operation });
    } catch (error) {
      return Promise.reject(error);
    }
    const context = { backend: BACKEND, election: name, operation };
    return boundedCall(
      {
        timeoutMs: this.requestTimeoutMs,
        signal: options?.signal,
        closing: this.lifecycle.signal,
        context,
        onGiveUp: (reason) => {
          if (reason !== "timeout") return;
          this.#breakWatches(
            new UnavailableError(
              `a call on this store's connection got no answer within ${this.requestTimeoutMs} ms`,
              context,
            ),
          );
        },
        mapError: (error) => mapFailure(error, this.#failureContext(name, operation)),
      },
      async (signal) => {
        try {
          return await this.#attempts(call, signal);
        } catch (error) {
          // Also after the call was given up: a call abandoned by its caller that later fails on
          // the connection still tells the watches that the connection is gone.
          if (!this.lifecycle.closed && classify(error) === "unavailable") {
            this.#breakWatches(
              new UnavailableError(`a call on this store's connection failed: ${String(error)}`, context),
            );
          }
          throw error;
        }
      },
    );
  }

  /** Registers a watch to end when a call finds the connection failed; returns the unregistration. */
  onConnectionFailure(breakWatch: (error: TenureError) => void): () => void {
    this.#watchBreakers.add(breakWatch);
    return () => this.#watchBreakers.delete(breakWatch);
  }

  /** Ends every open watch of the store with `error`. */
  #breakWatches(error: TenureError): void {
    for (const breakWatch of [...this.#watchBreakers]) breakWatch(error);
  }

  async #attempts<T>(call: (callOptions: CallOptions) => Promise<T>, signal: AbortSignal): Promise<T> {
    const deadline = Date.now() + this.requestTimeoutMs;
    const callOptions: CallOptions = { deadline, interceptors: [waitForReady] };
    for (let attempts = 1; ; attempts++) {
      try {
        return await call(callOptions);
      } catch (error) {
        // gRPC cancelled the call before sending it, because etcd3 closed its channel after
        // another call failed there (a call waiting for a connection waits on that channel).
        // Nothing reached etcd, so running it again on etcd3's new channel is safe, even a
        // transaction; bounded by the attempts and the same deadline, and never once given up.
        if (signal.aborted || attempts >= MAX_ATTEMPTS || Date.now() >= deadline || !neverSent(error)) {
          throw error;
        }
      }
    }
  }
}
