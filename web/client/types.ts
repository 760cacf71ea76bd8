// Wire types of the StreamHub WebSocket protocol v1 and the payload schemas of
// the stream families. Integers are JavaScript numbers (every protocol integer
// fits in 2^53); prices and amounts stay decimal strings.

/** Wire encodings, each a WebSocket subprotocol. */
export type Encoding = 'json' | 'msgpack';

/** Subprotocol names offered for each encoding. */
export const SUBPROTOCOLS: Readonly<Record<Encoding, string>> = {
  json: 'streamhub.v1.json',
  msgpack: 'streamhub.v1.msgpack',
};

/** Queue policies a subscription may ask for. */
export type Policy = 'keep-latest' | 'drop-oldest' | 'disconnect';

/** Limits announced by the hub in hello. */
export interface Limits {
  max_subscriptions: number;
  max_frame_bytes: number;
  max_queue_messages: number;
  max_queue_bytes: number;
  max_batch_messages: number;
}

/** The first frame of every connection. */
export interface Hello {
  op: 'hello';
  version: number;
  session: string;
  encoding: Encoding;
  heartbeat_ms: number;
  auth_required: boolean;
  limits: Limits;
  resume_window_ms?: number;
}

/** A loss notice: messages from..to of subject in epoch were dropped. */
export interface Gap {
  subject: string;
  epoch: number;
  from: number;
  to: number;
}

/** Tick payload on ticks.<venue>.<symbol>. */
export interface TickData {
  venue: string;
  symbol: string;
  bid: string;
  ask: string;
  last: string;
  size: string;
  ts: number;
}

/** Block payload on chain.<network>.block. */
export interface BlockData {
  network: string;
  height: number;
  hash: string;
  parent_hash: string;
  time: number;
  tx_count: number;
  gas_used: number;
  /** From `hub ingest evm` only (docs/streams.md): head height − height + 1. */
  confirmations?: number;
  /** From `hub ingest evm` only: reached the configured confirmation depth. */
  confirmed?: boolean;
  /** From `hub ingest evm` only: at or below the node's finalized block. */
  finalized?: boolean;
}

/** Transfer payload on chain.<network>.transfer. */
export interface TransferData {
  network: string;
  tx_hash: string;
  block_height: number;
  from: string;
  to: string;
  asset: string;
  amount: string;
  /** Always from the demo; from `hub ingest evm` only for stablecoins. */
  usd_value?: string;
  ts: number;
  /** The fields below come from `hub ingest evm` only (docs/streams.md). */
  block_hash?: string;
  log_index?: number;
  token?: string;
  decimals?: number;
  confirmations?: number;
  confirmed?: boolean;
  finalized?: boolean;
  /** True when a reorg retracted the transfer's block: it did not happen. */
  removed?: boolean;
}

/** Reorg payload on chain.<network>.reorg (critical). */
export interface ReorgData {
  network: string;
  depth: number;
  fork_height: number;
  old_head: string;
  new_head: string;
  ts: number;
  /** From `hub ingest evm` only: blocks retracted, newest first. */
  retracted?: { height: number; hash: string }[];
  /** From `hub ingest evm` only: blocks added, oldest first. */
  added?: { height: number; hash: string }[];
}

/** Job states and stages. */
export type JobState = 'queued' | 'running' | 'done' | 'failed';
export type JobStage =
  | 'queued'
  | 'loading'
  | 'tokenizing'
  | 'inference'
  | 'postprocess'
  | 'done'
  | 'failed';

/** Job progress payload on jobs.<tenant>.<job-id> (done/failed are critical). */
export interface JobProgressData {
  tenant: string;
  job_id: string;
  model: string;
  state: JobState;
  stage: JobStage;
  percent: number;
  eta_ms: number;
  error?: string;
  ts: number;
}

/** An event as it travels inside a batch frame. */
export interface WireEvent {
  subject: string;
  epoch: number;
  seq: number;
  ts: number;
  ingest: number;
  critical?: boolean;
  data: unknown;
}

/** The batch frame carrying all deliveries. */
export interface BatchFrame {
  op: 'batch';
  sent: number;
  gaps?: Gap[];
  events: WireEvent[];
}

interface EventBase<K extends string, D> {
  /** Family discriminator, derived from the subject prefix. */
  kind: K;
  subject: string;
  epoch: number;
  seq: number;
  /** Source timestamp (Unix ms). */
  ts: number;
  /** When the hub received it from NATS (Unix ms). */
  ingest: number;
  /** When the hub wrote the frame that carried it (Unix ms). */
  sent: number;
  /** When this client decoded it (Unix ms, client clock). */
  received: number;
  critical: boolean;
  data: D;
}

export type TickEvent = EventBase<'tick', TickData>;
export type BlockEvent = EventBase<'block', BlockData>;
export type TransferEvent = EventBase<'transfer', TransferData>;
export type ReorgEvent = EventBase<'reorg', ReorgData>;
export type JobProgressEvent = EventBase<'job', JobProgressData>;
/** Any subject outside the known families (or an unknown chain kind). */
export type OtherEvent = EventBase<'other', unknown>;

/** A typed event; switch on `kind` to narrow `data`. */
export type StreamEvent =
  | TickEvent
  | BlockEvent
  | TransferEvent
  | ReorgEvent
  | JobProgressEvent
  | OtherEvent;

/** The family discriminator of StreamEvent. */
export type EventKind = StreamEvent['kind'];

/** Server frames other than batch. */
export interface OkFrame {
  op: 'ok';
  id: number;
}
export interface ErrorFrame {
  op: 'error';
  id?: number;
  code: string;
  message: string;
}
export interface PingFrame {
  op: 'ping';
  ts?: number;
}
export interface PongFrame {
  op: 'pong';
  id?: number;
}

/**
 * An unsolicited notice: `token_expiring` (ts: the expiry), or
 * `upstream_reconnected` (ts: when the hub's own NATS connection came back;
 * ticks published meanwhile were missed, the hub's own tick numbering goes
 * on in a new epoch; stored families lost nothing).
 */
export interface NoticeFrame {
  op: 'notice';
  code: string;
  message: string;
  ts?: number;
}

/** Every frame a v1 hub sends. */
export type ServerFrame = Hello | OkFrame | ErrorFrame | BatchFrame | PingFrame | PongFrame | NoticeFrame;

/** Last position seen on one subject, sent back in subscribe.resume. */
export interface ResumePoint {
  epoch: number;
  seq: number;
}

/** A resume position on the wire. */
export interface ResumePosition extends ResumePoint {
  subject: string;
}

/** Commands the client sends. */
export interface SubscribeCommand {
  op: 'subscribe';
  id: number;
  subjects: string[];
  policy?: Policy;
  max_rate?: number;
  snapshot?: boolean;
  /**
   * Forward-compatible: the last (epoch, seq) seen per concrete subject, in
   * the shape of the reserved resume command (at most 16 positions). v1 hubs
   * decode and ignore it on subscribe.
   */
  resume?: ResumePosition[];
}
export interface UnsubscribeCommand {
  op: 'unsubscribe';
  id: number;
  subjects: string[];
}
export interface AuthCommand {
  op: 'auth' | 'refresh';
  id: number;
  token: string;
}
export interface PingCommand {
  op: 'ping';
  id: number;
}
export interface PongCommand {
  op: 'pong';
}
export type ClientCommand =
  | SubscribeCommand
  | UnsubscribeCommand
  | AuthCommand
  | PingCommand
  | PongCommand;
