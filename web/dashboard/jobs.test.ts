// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import type { JobProgressEvent, JobState } from '../client/index.js';
import { JobsPanel } from './jobs.js';

function job(id: string, state: JobState, percent: number, extra: Partial<JobProgressEvent['data']> = {}): JobProgressEvent {
  return {
    kind: 'job',
    subject: `jobs.acme.${id}`,
    epoch: 1,
    seq: 1,
    ts: 0,
    ingest: 0,
    sent: 0,
    received: 0,
    critical: state === 'done' || state === 'failed',
    data: { tenant: 'acme', job_id: id, model: 'llama-3-70b', state, stage: state === 'running' ? 'inference' : state, percent, eta_ms: 12_000, ts: 0, ...extra },
  };
}

describe('JobsPanel', () => {
  it('shows progress, marks done and failed, ignores stale progress after the end', () => {
    let now = 0;
    const p = new JobsPanel({}, () => now);
    p.update(job('j_1', 'running', 42.5));
    const row = p.el.querySelector<HTMLElement>('[data-testid="job-row"][data-job="acme-j_1"]');
    expect(row?.dataset['state']).toBe('running');
    expect(row?.querySelector('[data-testid="percent"]')?.textContent).toBe('42.5%');
    expect(row?.querySelector('[data-testid="eta"]')?.textContent).toBe('ETA 12s');
    expect(row?.querySelector<HTMLElement>('.fill')?.style.width).toBe('42.5%');

    p.update(job('j_1', 'done', 99));
    expect(row?.dataset['state']).toBe('done');
    expect(row?.querySelector('[data-testid="percent"]')?.textContent).toBe('100%');
    expect(row?.querySelector('[data-testid="eta"]')?.textContent).toBe('✓ done');
    p.update(job('j_1', 'running', 50)); // late duplicate: ignored
    expect(row?.dataset['state']).toBe('done');

    p.update(job('j_2', 'failed', 10, { error: 'OOM', stage: 'failed' }));
    const failed = p.el.querySelector<HTMLElement>('[data-job="acme-j_2"]');
    expect(failed?.dataset['state']).toBe('failed');
    expect(failed?.querySelector('[data-testid="stage"]')?.textContent).toBe('failed: OOM');
    now = 1;
  });

  it('fades finished jobs out and removes them', () => {
    let now = 0;
    const p = new JobsPanel({ fadeAfterMs: 10_000, fadeMs: 2_000 }, () => now);
    p.update(job('j_1', 'done', 100));
    p.update(job('j_2', 'running', 5));
    now = 10_000;
    p.sweep();
    expect(p.el.querySelector('[data-job="acme-j_1"]')?.classList.contains('fading')).toBe(true);
    now = 12_000;
    p.sweep();
    expect(p.el.querySelector('[data-job="acme-j_1"]')).toBeNull();
    expect(p.el.querySelector('[data-job="acme-j_2"]')).not.toBeNull();
  });

  it('keeps a bounded list, dropping finished jobs first', () => {
    let now = 0;
    const p = new JobsPanel({ maxJobs: 3 }, () => now);
    p.update(job('a', 'running', 1));
    now++;
    p.update(job('b', 'done', 100));
    now++;
    p.update(job('c', 'running', 1));
    now++;
    p.update(job('d', 'running', 1)); // over the bound: b (finished) goes
    expect([...p.el.querySelectorAll<HTMLElement>('[data-testid="job-row"]')].map((e) => e.dataset['job'])).toEqual([
      'acme-d',
      'acme-c',
      'acme-a',
    ]);
    now++;
    p.update(job('e', 'running', 1)); // none finished: least recently updated (a) goes
    expect(p.size).toBe(3);
    expect(p.el.querySelector('[data-job="acme-a"]')).toBeNull();
  });
});
