/**
 * One worker's run: its share of the plan's groups as simulated users, the timer queue, the
 * measurements, and the conversation with the parent (slices, barriers, the final report). Users
 * report to the sink assembled here; scenarios see only the Run of scenario-run.ts.
 */
import type { Scenario } from './api.ts';
import { Barriers } from './barriers.ts';
import { now, sleep } from './clock.ts';
import { HealthMonitor } from './health.ts';
import { Inbox } from './inbox.ts';
import { Ledger } from './ledger.ts';
import type { WorkerMessage, WorkerStart } from './messages.ts';
import { targetsOf, type LoadOptions } from './options.ts';
import { Outbox } from './outbox.ts';
import { buildPlan, segmentGroups, workerGroups, type Group } from './plan.ts';
import { deriveSeed, prng } from './random.ts';
import { Recorder } from './recorder.ts';
import { RequestTable, UnsupportedOpError } from './requests.ts';
import { ScenarioRun } from './scenario-run.ts';
import { Scheduler, type Phase } from './scheduler.ts';
import { Signals } from './signals.ts';
import { cachedTokens, tokenProvider, type TokenProvider } from './tokens.ts';
import { SimUser, type UserSink } from './user.ts';

export class Runtime {
  readonly options: LoadOptions;
  readonly #rec = new Recorder();
  readonly #ledger = new Ledger();
  readonly #scheduler = new Scheduler();
  readonly #health = new HealthMonitor();
  readonly #users = new Map<number, SimUser>();
  readonly #phase: Phase = { end: Infinity };
  readonly #start: WorkerStart;
  readonly #post: (m: WorkerMessage) => void;
  readonly #token: TokenProvider;
  readonly #groups: Group[];
  readonly #arrivalsMs: Float64Array;
  readonly #requests: RequestTable;
  readonly #barriers: Barriers;
  readonly #outbox: Outbox;
  readonly #inbox: Inbox;
  readonly #api: ScenarioRun;
  /** Run start on the shared monotonic clock (clock.ts), set by run(). */
  #startAt = 0;
  #sliceIndex = 0;
  #sliceTimer: NodeJS.Timeout | undefined;

  constructor(start: WorkerStart, post: (m: WorkerMessage) => void) {
    const o = (this.options = start.options);
    this.#start = start;
    this.#post = post;
    this.#token = cachedTokens(tokenProvider(start.tokens));
    const plan = buildPlan({ users: o.users, groupSize: o.groupSize, arrivalRate: o.arrivalRate, arrival: o.arrival, seed: o.seed });
    this.#arrivalsMs = plan.arrivalsMs;
    this.#groups = workerGroups(segmentGroups(plan.groups, o.segment), start.worker, start.workers);
    const rec = this.#rec;
    const rand = prng(deriveSeed(o.seed, `worker-schedule-${o.segment.index}-${start.worker}`));
    const userId = (index: number) => `${o.userPrefix}${index}`;
    this.#requests = new RequestTable(rec);
    this.#barriers = new Barriers((name, reached) => post({ type: 'barrier', worker: start.worker, name, reached }));
    this.#outbox = new Outbox(o, rec, this.#ledger, this.#scheduler, this.#phase, rand);
    this.#inbox = new Inbox(rec, this.#ledger);
    const signals = new Signals(o, rec);
    const requests = this.#requests;
    const outbox = this.#outbox;
    const inbox = this.#inbox;
    // Users emit, the runtime listens: each report goes to the part that owns its meaning.
    const sink: UserSink = {
      meter: rec,
      ready: (u) => outbox.resend(u),
      ack: (u, cmid, t) => outbox.ack(u, cmid, t),
      delivery: (u, stamp, t) => inbox.delivery(u, stamp, t),
      event: (_u, f, t) => signals.event(f, t),
      reply: (f) => requests.settle(f),
      errorFrame: (u, f) => {
        const code = String(f.code);
        rec.error(code);
        if (typeof f.id === 'number') requests.fail(f.id, code, String(f.message));
        else if (typeof f.id === 'string') outbox.refused(u, f.id);
      },
    };
    const wirings = targetsOf(o.target).map((target) => ({ target, token: this.#token, userId, requests, sink }));
    for (const g of this.#groups) for (const m of g.members) this.#users.set(m, new SimUser(wirings[m % wirings.length]!, m, g));
    this.#api = new ScenarioRun({
      options: o, users: this.#users, userId, token: this.#token, meter: rec, barriers: this.#barriers,
      outbox, inbox, signals, scheduler: this.#scheduler, phase: this.#phase, rand,
    });
    this.#scheduler.onLag = (lag) => { this.#health.lag(lag); rec.record('schedule_lag_ms', lag); };
  }

  /** Fetches every user's token (in batches) before the start; failures surface at connect. */
  async prepare(): Promise<void> {
    const ids = [...this.#users.values()].map((u) => u.id);
    for (let i = 0; i < ids.length; i += 500) await Promise.all(ids.slice(i, i + 500).map((id) => this.#token(id).catch(() => undefined)));
  }

  /** Runs the scenario's users from `startAt`; resolves after the drain with the report sent. */
  async run(scenario: Scenario, startAt: number): Promise<void> {
    this.#startAt = startAt;
    this.#phase.end = startAt + this.options.durationMs;
    this.#health.start();
    this.#armSlices();
    const done: Promise<void>[] = [];
    if (scenario.worker) done.push(scenario.worker(this.#api).catch((err: Error) => this.#fatal(err)));
    const user = scenario.user;
    if (user) {
      for (const u of this.#users.values()) {
        const intended = this.#startAt + this.#arrivalsMs[u.index]!;
        done.push(new Promise<void>((resolve) => this.#scheduler.at(intended, (t) => {
          u.arrivedAt = t;
          this.#rec.count('users');
          user(u, this.#api).catch((err: Error) => {
            if (err instanceof UnsupportedOpError) this.#fatal(err);
            else this.#rec.error(err.message.includes('connect failed') ? 'user_connect_failed' : 'user_failed');
          }).finally(() => { this.#barriers.leave(); resolve(); });
        })));
      }
    }
    await Promise.all(done);
    await this.#drain();
    await this.#finish();
  }

  /** The parent released a barrier: the next phase starts at `at` and lasts the run duration. */
  release(name: string, at: number): void {
    this.#phase.end = at + this.options.durationMs;
    this.#barriers.release(name, at);
  }

  /** The parent aborted (threshold abortOnFail): stop scheduling, let the drain run. */
  abort(): void {
    this.#phase.end = Math.min(this.#phase.end, now());
  }

  async #drain(): Promise<void> {
    const deadline = now() + this.options.drainMs;
    while (now() < deadline && !this.#settled()) await sleep(25);
  }

  /**
   * Every acked message has reached every recipient and no send waits for its ack. A recipient
   * that dropped and is reconnecting is waited for too: its resume delivers what it missed, and
   * settling before it is back counted those messages as lost (reconnect-churn reported 110).
   */
  #settled(): boolean {
    if (this.#outbox.unacked > 0) return false;
    for (const u of this.#users.values()) {
      const acked = this.#ledger.ackedCount(u.index);
      if (acked === 0) continue;
      for (const p of u.peers) {
        const peer = this.#users.get(p);
        if (this.#ledger.receivedCount(p, u.index) < acked && (peer?.connected || peer?.returning)) return false;
      }
    }
    return true;
  }

  async #finish(): Promise<void> {
    for (const u of this.#users.values()) u.retire();
    this.#scheduler.stop();
    clearInterval(this.#sliceTimer);
    // Acks and deliveries keep arriving while the sockets close: settle the books after the last one.
    await Promise.all([...this.#users.values()].map((u) => u.close()));
    const members = new Map<number, number[]>();
    for (const g of this.#groups) for (const m of g.members) members.set(m, g.members.filter((x) => x !== m));
    const { expected, lost, unexpected } = this.#ledger.settle((s) => members.get(s) ?? []);
    this.#rec.count('expected', expected);
    this.#rec.count('lost', lost);
    this.#rec.count('delivered_unacked', unexpected);
    this.#rec.count('unacked', this.#outbox.unacked);
    let missed = 0;
    for (const u of this.#users.values()) missed += u.backlog?.length ?? 0;
    this.#rec.count('missed_sends', missed);
    const health = this.#health.snapshot();
    this.#health.stop();
    this.#post({ type: 'done', worker: this.#start.worker, users: this.#users.size, health, final: this.#rec.cut(this.#sliceIndex), totals: this.#rec.totals });
  }

  #fatal(err: Error): void {
    this.#post({ type: 'fatal', worker: this.#start.worker, message: err.message });
  }

  #armSlices(): void {
    const { sliceMs } = this.options;
    const tick = () => {
      const due = this.#startAt + (this.#sliceIndex + 1) * sliceMs;
      this.#sliceTimer = setTimeout(() => {
        this.#health.sample();
        this.#post({ type: 'slice', worker: this.#start.worker, slice: this.#rec.cut(this.#sliceIndex++), totals: this.#rec.totals });
        tick();
      }, Math.max(0, due - now()));
    };
    tick();
  }
}
