// The wire types, generated from the Rust definitions (see docs/frontend.md); never edit generated/ by hand.
export type { AccountConfig } from "./generated/AccountConfig";
export type { AccountUpdate } from "./generated/AccountUpdate";
export type { BookLevel } from "./generated/BookLevel";
export type { BookSnapshot } from "./generated/BookSnapshot";
export type { Candle } from "./generated/Candle";
export type { ClientMessage } from "./generated/ClientMessage";
export type { Credentials } from "./generated/Credentials";
export type { EngineView } from "./generated/EngineView";
export type { Envelope } from "./generated/Envelope";
export type { ErrorBody } from "./generated/ErrorBody";
export type { ErrorCode } from "./generated/ErrorCode";
export type { Event } from "./generated/Event";
export type { ExecutionReport } from "./generated/ExecutionReport";
export type { InstrumentConfig } from "./generated/InstrumentConfig";
export type { OpenOrder } from "./generated/OpenOrder";
export type { OrderEntry } from "./generated/OrderEntry";
export type { OrderOutcome } from "./generated/OrderOutcome";
export type { OrderStatus } from "./generated/OrderStatus";
export type { OrderType } from "./generated/OrderType";
export type { PositionView } from "./generated/PositionView";
export type { RejectReason } from "./generated/RejectReason";
export type { Scenario } from "./generated/Scenario";
export type { ServerMessage } from "./generated/ServerMessage";
export type { Session } from "./generated/Session";
export type { SessionList } from "./generated/SessionList";
export type { Side } from "./generated/Side";
export type { SimConfig } from "./generated/SimConfig";
export type { SimState } from "./generated/SimState";
export type { Simulator } from "./generated/Simulator";
export type { SimulatorList } from "./generated/SimulatorList";
export type { SimulatorStatus } from "./generated/SimulatorStatus";
export type { Speed } from "./generated/Speed";
export type { StartSimulator } from "./generated/StartSimulator";
export type { StpMode } from "./generated/StpMode";
export type { Ticket } from "./generated/Ticket";
export type { TimeInForce } from "./generated/TimeInForce";
export type { Tokens } from "./generated/Tokens";
export type { Trade } from "./generated/Trade";
export type { User } from "./generated/User";

import type { ClientMessage } from "./generated/ClientMessage";
import type { Envelope } from "./generated/Envelope";
import type { ServerMessage } from "./generated/ServerMessage";

/** `STREAM_VERSION` in engine-wasm/protocol/src/stream.rs. */
export const STREAM_VERSION = 1;

/** An event of one type, e.g. `EventOf<"trade">`. */
export type EventOf<K extends import("./generated/Event").Event["type"]> = Extract<
  import("./generated/Event").Event,
  { type: K }
>;

export function encodeClientMessage(message: ClientMessage): string {
  const envelope: Envelope<ClientMessage> = { v: STREAM_VERSION, ...message };
  return JSON.stringify(envelope);
}

/** Parses a server frame; null for anything that is not a v1 message object. */
export function decodeServerMessage(text: string): ServerMessage | null {
  try {
    return asServerMessage(JSON.parse(text));
  } catch {
    return null;
  }
}

/** A frame parsed elsewhere (the socket worker) as a server message; null for anything that is not a v1 message object. */
export function asServerMessage(value: unknown): ServerMessage | null {
  if (typeof value !== "object" || value === null || (value as Partial<Envelope<ServerMessage>>).v !== STREAM_VERSION)
    return null;
  return value as ServerMessage;
}
