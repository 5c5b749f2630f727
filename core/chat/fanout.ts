/**
 * The receiving end of the bus for the node, with the canary `fanout-batched` guarding an
 * alternative hot path. Control hands each event to the hub at once; batched collects the message
 * events of one event-loop turn and delivers them in one pass per session. Fan-out size, delivery
 * latency and deliveries are labelled by variant so the two can be compared side by side.
 */
import type { BusEvent } from '../bus/types.ts';
import { msgFrame, type Hub, type HubSession } from './hub.ts';
import type { Meter } from '../metrics.ts';
import type { Message } from '../protocol.ts';

export type FanoutVariant = 'control' | 'batched';

/** One label object per variant, not three per message. */
const LABELS = Object.freeze({ control: Object.freeze({ variant: 'control' }), batched: Object.freeze({ variant: 'batched' }) } as const);

export class Fanout {
  readonly #hub: Hub;
  readonly #meter: Meter;
  #variant: FanoutVariant = 'control';
  #batch: Extract<BusEvent, { kind: 'msg' }>[] = [];
  #scheduled = false;
  /** Fault injection (setting faultVariantDelayMs): the batched variant's passes run this late, to prove the canary rolls it back. */
  faultDelayMs = 0;

  constructor(hub: Hub, meter: Meter) {
    this.#hub = hub;
    this.#meter = meter;
  }

  get variant(): FanoutVariant {
    return this.#variant;
  }

  /** Switches the path (on flag changes); events already batched are still flushed. */
  set variant(v: FanoutVariant) {
    this.#variant = v;
  }

  dispatch = (event: BusEvent): void => {
    this.#meter.inc('parley_bus_events_total', { kind: event.kind });
    if (event.kind !== 'msg') { this.#hub.dispatch(event); return; }
    if (this.#variant === 'batched') {
      this.#batch.push(event);
      if (!this.#scheduled) {
        this.#scheduled = true;
        if (this.faultDelayMs > 0) setTimeout(this.#flush, this.faultDelayMs);
        else setImmediate(this.#flush);
      }
      return;
    }
    const t0 = performance.now();
    const reached = this.#hub.dispatch(event);
    this.#meter.observe('parley_fanout_dispatch_seconds', (performance.now() - t0) / 1000, LABELS.control);
    this.#record('control', reached, event.message.ts);
  };

  #record(variant: FanoutVariant, reached: number, ts: number): void {
    const labels = LABELS[variant];
    this.#meter.observe('parley_fanout_recipients', reached, labels);
    if (reached === 0) return;
    this.#meter.inc('parley_messages_delivered_total', labels, reached);
    this.#meter.observe('parley_delivery_latency_seconds', Math.max(0, Date.now() - ts) / 1000, labels);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const t0 = performance.now();
    const events = this.#batch;
    this.#batch = [];
    // One pass per session over everything it receives in this turn: each frame encoded once.
    const perSession = new Map<HubSession, [Message, string, boolean][]>();
    const reached = new Array<number>(events.length).fill(0);
    events.forEach((event, i) => {
      const text = msgFrame(event.message);
      this.#hub.recipients(event, (s, own) => {
        let list = perSession.get(s);
        if (!list) perSession.set(s, (list = []));
        list.push([event.message, text, own]);
        if (!own) reached[i]!++;
      });
    });
    for (const [s, list] of perSession) for (const [m, text, own] of list) s.deliver(m, text, own);
    this.#meter.observe('parley_fanout_dispatch_seconds', (performance.now() - t0) / 1000, LABELS.batched);
    events.forEach((event, i) => this.#record('batched', reached[i]!, event.message.ts));
  };
}
