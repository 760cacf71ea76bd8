// Jobs panel: one progress bar per job.

import type { JobProgressEvent, JobState } from '../client/index.js';
import { h, setText, testIdPart } from './dom.js';
import { fmtDuration } from './format.js';

/** Settings of JobsPanel; zero fields take the defaults. */
export interface JobsOptions {
  /** Most rows kept; finished jobs are dropped first (default 12). */
  maxJobs?: number;
  /** A finished job starts fading out this long after it ended (default 20 s). */
  fadeAfterMs?: number;
  /** …and is removed this long after that (default 2 s, the CSS transition). */
  fadeMs?: number;
}

interface JobRow {
  key: string;
  state: JobState;
  updated: number;
  finishedAt: number | undefined;
  el: HTMLElement;
  bar: HTMLElement;
  fill: HTMLElement;
  stage: HTMLElement;
  pct: HTMLElement;
  eta: HTMLElement;
}

function finished(s: JobState): boolean {
  return s === 'done' || s === 'failed';
}

/**
 * JobsPanel renders the jobs family. update() applies an event at once (job
 * events are few); sweep() fades and removes finished jobs and is meant to
 * run about once a second.
 */
export class JobsPanel {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly rows = new Map<string, JobRow>();
  private readonly opts: Required<JobsOptions>;

  constructor(opts: JobsOptions = {}, private readonly now: () => number = Date.now) {
    this.opts = {
      maxJobs: opts.maxJobs || 12,
      fadeAfterMs: opts.fadeAfterMs || 20_000,
      fadeMs: opts.fadeMs || 2_000,
    };
    this.list = h('ul', { class: 'jobs', 'data-testid': 'jobs' }, h('li', { class: 'empty' }, 'Waiting for jobs…'));
    this.el = h('section', { class: 'panel jobs-panel', 'aria-label': 'Jobs' }, h('h2', {}, 'Jobs'), this.list);
  }

  /** size is the number of job rows shown. */
  get size(): number {
    return this.rows.size;
  }

  /** update applies a progress event. A finished job ignores later non-final events. */
  update(ev: JobProgressEvent): void {
    const d = ev.data;
    if (!d || typeof d.job_id !== 'string') return;
    const tenant = d.tenant || ev.subject.split('.')[1] || '?';
    const key = `${tenant}/${d.job_id}`;
    let row = this.rows.get(key);
    if (row && finished(row.state) && !finished(d.state)) return;
    if (!row) {
      row = this.createRow(key, tenant, d.job_id, d.model);
    }
    row.updated = this.now();
    row.state = d.state;
    row.el.dataset['state'] = d.state;
    const pct = Math.max(0, Math.min(100, Number(d.percent) || 0));
    const shown = d.state === 'done' ? 100 : pct;
    row.fill.style.width = `${shown}%`;
    row.bar.setAttribute('aria-valuenow', shown.toFixed(1));
    setText(row.pct, `${shown.toFixed(shown >= 100 ? 0 : 1)}%`);
    setText(row.stage, d.state === 'failed' && d.error ? `failed: ${d.error}` : d.stage || d.state);
    setText(row.eta, finished(d.state) ? (d.state === 'done' ? '✓ done' : '✗ failed') : `ETA ${fmtDuration(d.eta_ms)}`);
    if (finished(d.state)) {
      row.finishedAt ??= this.now();
    }
    this.bound();
  }

  /** sweep fades finished jobs after fadeAfterMs and removes them fadeMs later. */
  sweep(): void {
    const now = this.now();
    for (const row of [...this.rows.values()]) {
      if (row.finishedAt === undefined) continue;
      const age = now - row.finishedAt;
      if (age >= this.opts.fadeAfterMs + this.opts.fadeMs) this.remove(row);
      else if (age >= this.opts.fadeAfterMs) row.el.classList.add('fading');
    }
  }

  /** clear empties the panel (the family was unsubscribed). */
  clear(): void {
    this.rows.clear();
    this.list.replaceChildren(h('li', { class: 'empty' }, 'Not subscribed'));
  }

  private createRow(key: string, tenant: string, jobId: string, model: string): JobRow {
    const fill = h('div', { class: 'fill' });
    const bar = h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-label': `Progress of ${jobId}` }, fill);
    const stage = h('span', { class: 'stage', 'data-testid': 'stage' });
    const pct = h('span', { class: 'pct', 'data-testid': 'percent' });
    const eta = h('span', { class: 'eta', 'data-testid': 'eta' });
    const el = h(
      'li',
      { class: 'job', 'data-testid': 'job-row', 'data-job': `${testIdPart(tenant)}-${testIdPart(jobId)}` },
      h('div', { class: 'job-head' }, h('span', { class: 'job-id' }, jobId), h('span', { class: 'tenant' }, tenant), h('span', { class: 'model' }, model || '')),
      bar,
      h('div', { class: 'job-foot' }, stage, pct, eta),
    );
    const row: JobRow = { key, state: 'queued', updated: this.now(), finishedAt: undefined, el, bar, fill, stage, pct, eta };
    this.list.querySelector(':scope > .empty')?.remove();
    this.list.prepend(el);
    this.rows.set(key, row);
    return row;
  }

  // bound keeps at most maxJobs rows: the oldest finished first, then the
  // least recently updated.
  private bound(): void {
    while (this.rows.size > this.opts.maxJobs) {
      const all = [...this.rows.values()];
      const done = all.filter((r) => r.finishedAt !== undefined).sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0));
      const victim = done[0] ?? all.sort((a, b) => a.updated - b.updated)[0];
      if (!victim) return;
      this.remove(victim);
    }
  }

  private remove(row: JobRow): void {
    this.rows.delete(row.key);
    row.el.remove();
    if (this.rows.size === 0) this.list.replaceChildren(h('li', { class: 'empty' }, 'No active jobs'));
  }
}
