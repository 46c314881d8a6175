/**
 * One pub/sub connection per Redis node shared by every watch of a store. A watch used to open a
 * connection of its own, so a process following 10,000 elections held 10,000 connections: past
 * Redis's default `maxclients` (10,000) with a few replicas, and one socket, parser and heartbeat
 * timer each. Here the store keeps one subscriber connection per node, subscribes each election's
 * channel once (reference counted: the first watch of a channel subscribes, the last one to leave
 * unsubscribes), and hands each message to the watches of its channel by a map lookup.
 *
 * What a watch could rely on with its own connection still holds: a watch is told its channel is
 * subscribed only after Redis confirmed the SUBSCRIBE on this connection (so its first read comes
 * after it); a connection that breaks breaks every watch on it, since messages published while it
 * was down are gone for all of them (each watch then fails with UNAVAILABLE, the engine watches
 * again after its retry period, and that watch opens a fresh connection); and the heartbeat pings
 * the connection, now once per connection instead of once per watch.
 */
import type ioredis from "ioredis";

/** A standalone ioredis client. */
type Redis = InstanceType<typeof ioredis.default>;

/** What a watch hears from the shared subscription of its channel. */
export interface ChannelListener {
  /** A message published on the channel. */
  message(text: string): void;
  /**
   * The shared connection broke: no more messages will come. `cause` is the connection's error (a
   * refused password, a reset, a PING without answer), or undefined when it just closed.
   */
  broken(cause: Error | undefined): void;
}

/** One watch's hold on a channel of a shared connection. */
export interface ChannelSubscription {
  /**
   * Resolves once Redis confirmed the channel's SUBSCRIBE on the shared connection; rejects with the
   * raw error (a NOPERM reply, a refused connection, no answer in time) when it could not subscribe.
   */
  readonly ready: Promise<void>;
  /** Leaves the channel (the last watch to leave unsubscribes it). Idempotent. */
  release(): void;
}

/** Settings of a {@link SharedSubscriber}. */
export interface SharedSubscriberSettings {
  /** Longest the connection may take to connect or to answer SUBSCRIBE or PING before it counts as broken. */
  readonly requestTimeoutMs: number;
  /** How often the connection is pinged while watches use it; 0: never. */
  readonly heartbeatMs: number;
  /** Called once when the connection is no longer to be handed out (broken, or left by its last watch). */
  readonly onRetired: () => void;
}

/** The watches of one channel, and the SUBSCRIBE that serves them. */
interface ChannelEntry {
  readonly listeners: Set<ChannelListener>;
  /** Settles when Redis answered the channel's SUBSCRIBE. */
  confirmed: Promise<void>;
}

/**
 * One subscriber connection to one Redis node, shared by the watches of a store. It lives while
 * watches use it: it closes when the last one leaves, and retires for good when it breaks (it never
 * reconnects: a reconnected subscription would have missed messages without anyone knowing).
 */
export class SharedSubscriber {
  readonly #client: Redis;
  readonly #settings: SharedSubscriberSettings;
  readonly #channels = new Map<string, ChannelEntry>();
  readonly #connected: Promise<void>;
  /** Subscriptions handed out and not released yet. */
  #users = 0;
  #retired = false;
  #lastError: Error | undefined;
  #heartbeat: NodeJS.Timeout | undefined;

  /** Takes over `client` (a fresh, unconnected connection with no reconnect) and connects it. */
  constructor(client: Redis, settings: SharedSubscriberSettings) {
    this.#client = client;
    this.#settings = settings;
    client.on("message", (channel: string, message: string) => {
      const entry = this.#channels.get(channel);
      if (entry === undefined) return;
      for (const listener of entry.listeners) listener.message(message);
    });
    client.on("error", (error: Error) => {
      this.#lastError = error;
      this.#break(error);
    });
    const onClose = (): void => this.#break(this.#lastError);
    client.on("close", onClose);
    client.on("end", onClose);
    this.#connected = this.#command("connect", () => client.connect());
    // Failures reach the watches through their `ready`; this branch only keeps the rejection handled.
    this.#connected.then(
      () => this.#startHeartbeat(),
      () => {},
    );
  }

  /** Whether new watches may still use this connection (false once broken or closed). */
  get usable(): boolean {
    return !this.#retired;
  }

  /** Channels subscribed or being subscribed (for tests and diagnostics). */
  get channelCount(): number {
    return this.#channels.size;
  }

  /**
   * Adds `listener` to `channel`, subscribing the channel if no other watch holds it. The listener
   * hears every message from now on, and the break of the connection; `ready` says when the channel
   * is confirmed. Call `release` exactly when the watch ends, whatever happened.
   */
  subscribe(channel: string, listener: ChannelListener): ChannelSubscription {
    if (this.#retired) {
      // The store hands out only usable connections; this keeps a late caller from waiting forever.
      return {
        ready: Promise.reject(new Error("the shared watch connection was closed")),
        release: () => {},
      };
    }
    this.#users += 1;
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      const created: ChannelEntry = { listeners: new Set(), confirmed: Promise.resolve() };
      created.confirmed = this.#connected.then(async () => {
        await this.#command("subscribe", () => this.#client.subscribe(channel));
      });
      // A refused SUBSCRIBE (NOPERM) leaves the connection healthy: forget the channel, so that the
      // next watch of it asks again.
      created.confirmed.catch(() => {
        if (this.#channels.get(channel) === created) this.#channels.delete(channel);
      });
      this.#channels.set(channel, created);
      entry = created;
    }
    const held = entry;
    held.listeners.add(listener);
    let released = false;
    return {
      ready: held.confirmed,
      release: () => {
        if (released) return;
        released = true;
        held.listeners.delete(listener);
        this.#users -= 1;
        if (this.#users === 0) {
          this.#retire();
          return;
        }
        if (held.listeners.size > 0 || this.#channels.get(channel) !== held) return;
        this.#channels.delete(channel);
        if (this.#retired) return;
        // After the SUBSCRIBE was answered, so that the two cannot cross. A message still on its way
        // finds no entry and is dropped; a watch of the channel arriving meanwhile subscribes again,
        // and Redis answers that after this UNSUBSCRIBE (one connection answers in order).
        held.confirmed
          .then(() => this.#command("unsubscribe", () => this.#client.unsubscribe(channel)))
          .catch(() => {});
      },
    };
  }

  /** Closes the connection whatever uses it (the store is closing; its watches end with CLOSED). */
  close(): void {
    this.#retire();
  }

  /**
   * One command on the connection, bounded by requestTimeoutMs. No answer in time means the link is
   * dead or stuck, and every later answer would queue behind the missing one: the connection breaks.
   */
  #command<T>(name: string, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = new Error(
          `no answer to ${name.toUpperCase()} on the shared watch connection within ${this.#settings.requestTimeoutMs} ms`,
        );
        this.#break(error);
        reject(error);
      }, this.#settings.requestTimeoutMs);
      run().then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  #startHeartbeat(): void {
    const { heartbeatMs } = this.#settings;
    if (heartbeatMs === 0 || this.#retired) return;
    this.#heartbeat = setInterval(() => {
      this.#command("ping", () => this.#client.ping()).catch((error: unknown) =>
        this.#break(error instanceof Error ? error : new Error(String(error))),
      );
    }, heartbeatMs);
  }

  /** The connection broke: every watch on it is told, and it is never handed out again. */
  #break(cause: Error | undefined): void {
    if (this.#retired) return;
    const listeners = [...this.#channels.values()].flatMap((entry) => [...entry.listeners]);
    this.#retire();
    for (const listener of listeners) listener.broken(cause);
  }

  #retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    clearInterval(this.#heartbeat);
    this.#settings.onRetired();
    // Keep an error listener: a late socket error after disconnect must not become an unhandled event.
    this.#client.on("error", () => {});
    this.#client.disconnect();
  }
}
