// migrations.jsx - migration jobs: the list (live, polled every 2 s), the create form, and a
// job's page (start/pause/resume/cancel/delete, live rate and ETA, failed objects and reasons).
import { useState } from 'preact/hooks';
import { del, enc, get, post, qs } from '../api.js';
import { useT } from '../i18n.js';
import {
  Dialog, ErrorBox, Field, Loading, Notice, Progress, SortTable, StateBadge, useAction, usePoll,
} from '../components.jsx';
import { bytes, duration, num, pct, rate, time } from '../format.js';
import { go, isPlatformAdmin, isTenantRole } from '../nav.js';

export const SOURCE_PROVIDERS = ['generic', 'aws', 'aliyun-oss', 'huawei-obs', 'tencent-cos'];

/* Progress of a job's current or last pass: {pct, label}. */
export function jobProgress(j) {
  const s = j.stats || {};
  const doneObjs = (s.verified || 0) + (s.skipped || 0) + (s.failed || 0) + (s.waiting || 0);
  let p;
  if (j.state === 'completed') p = 100;
  else if (s.listed > 0) p = pct((s.copied_bytes || 0) + (s.skipped_bytes || 0) + (s.failed_bytes || 0), s.listed_bytes || 0);
  else p = 0;
  if (s.listed > 0 && s.listed_bytes === 0) p = pct(doneObjs, s.listed);
  return { pct: p, label: num(doneObjs) + ' / ' + num(s.listed || 0) + ' · ' + bytes((s.copied_bytes || 0) + (s.skipped_bytes || 0)) + ' / ' + bytes(s.listed_bytes || 0) };
}

/* A job's rate and ETA are "now" numbers: shown only while a pass runs. The API keeps a
 * finished or paused pass's last rate (and the status document counts no rate for it), so a
 * completed job shows "—", as its tenant's status does. */
export const liveRate = (j) => (j.state === 'running' ? rate(j.rate_bps) : '—');
export const liveEta = (j, t) => (j.state === 'running' ? duration(j.eta_s, t) : '—');

/* Which actions a job's state allows. */
function actionsFor(j) {
  switch (j.state) {
    case 'created': return ['start', 'cancel'];
    case 'running': return ['pause', 'cancel'];
    case 'paused': return ['resume', 'cancel'];
    case 'failed': return ['start'];
    case 'completed': return (j.options && j.options.interval_seconds > 0) ? ['cancel'] : ['start'];
    default: return [];
  }
}

function JobActions({ job, onDone, withDelete }) {
  const t = useT();
  const act = useAction();
  const doIt = async (a) => {
    if (a === 'cancel' && !window.confirm(t('job.cancel.confirm'))) return;
    if (await act.run(() => post('/admin/v1/migrations/' + enc(job.id) + '/' + a, {}))) onDone();
  };
  const estimating = job.estimate && job.estimate.state === 'running';
  const estimate = async () => {
    if (await act.run(() => post('/admin/v1/migrations/' + enc(job.id) + '/estimate', {}))) onDone();
  };
  const remove = async () => {
    if (!window.confirm(t('job.delete.confirm'))) return;
    if (await act.run(() => del('/admin/v1/migrations/' + enc(job.id)))) go('/migrations');
  };
  return (
    <span class="row-actions">
      {actionsFor(job).map((a) => (
        <button class={'btn small' + (a === 'cancel' ? ' danger' : '')} data-action={a} disabled={act.busy}
          onClick={() => doIt(a)}>{t('job.action.' + a)}</button>
      ))}
      {job.state !== 'cancelled' && <button class="btn small" data-action="estimate" title={t('job.estimate.hint')}
        disabled={act.busy || estimating} onClick={estimate}>{estimating ? t('job.estimate.running') : t('job.action.estimate')}</button>}
      {withDelete && job.state !== 'running' && <button class="btn small danger" data-action="delete" onClick={remove}>{t('action.delete')}</button>}
      {act.error && <ErrorBox error={act.error} />}
    </span>
  );
}

/* The job's last source estimate in one line: "5 · 2.3 MiB", "estimating…", "—". */
export function estimateText(e, t) {
  if (!e) return '—';
  if (e.state === 'running') return t('job.estimate.running');
  if (e.state === 'failed') return t('job.estimate.failed');
  return num(e.objects) + ' · ' + bytes(e.bytes) + (e.truncated ? ' +' : '');
}

function EstimateCard({ job }) {
  const t = useT();
  const e = job.estimate;
  return (
    <div class="card" data-test="job-estimate" data-state={e ? e.state : 'none'}>
      <h2>{t('job.estimate')}</h2>
      <p class="muted">{t('job.estimate.hint')}</p>
      {!e ? <p class="muted">{t('job.estimate.none')}</p> : e.state === 'running' ? <p>{t('job.estimate.running')}</p> : (
        <div class="kv">
          {e.state === 'failed' && <div><span>{t('job.error')}</span><span class="bad-text" data-test="job-estimate-error">{e.error}</span></div>}
          {e.state === 'done' && <>
            <div><span>{t('job.estimate.objects')}</span><strong data-test="job-estimate-objects">{num(e.objects)}</strong></div>
            <div><span>{t('job.estimate.bytes')}</span><strong data-test="job-estimate-bytes">{bytes(e.bytes)}</strong></div>
            <div><span>{t('job.estimate.archive')}</span>{num(e.archive_objects)} · {bytes(e.archive_bytes)}</div>
            <div><span>{t('job.estimate.kind')}</span>{e.truncated ? t('job.estimate.sampled', { n: num(e.sample) }) : t('job.estimate.exact')}</div>
          </>}
          <div><span>{t('job.estimate.at')}</span>{time(e.finished)}</div>
        </div>
      )}
    </div>
  );
}

const lines = (s) => s.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);

function CreateJob({ session, tenant, onClose, onDone }) {
  const t = useT();
  const platform = isPlatformAdmin(session);
  const tenants = usePoll(() => (platform ? get('/admin/v1/tenants') : Promise.resolve(null)), 0, [platform]);
  const [f, setF] = useState({
    tenant: tenant || (isTenantRole(session) ? session.tenant_name : ''),
    name: '', provider: 'generic', endpoint: '', region: 'us-east-1', bucket: '', prefix: '',
    access_key: '', secret_key: '', include: '', exclude: '', dest_bucket: '', concurrency: '8',
    bandwidth_limit: '', delete_extraneous: false, interval_seconds: '0', dry_run: false, start: true,
  });
  const { busy, error, run } = useAction();
  const set = (k) => (e) => setF({ ...f, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  const submit = async (e) => {
    e.preventDefault();
    const body = {
      tenant: f.tenant,
      name: f.name.trim(),
      source: {
        provider: f.provider, endpoint: f.endpoint.trim(), region: f.region.trim(),
        bucket: f.bucket.trim(), prefix: f.prefix, access_key: f.access_key.trim(),
        secret_key: f.secret_key, include: lines(f.include), exclude: lines(f.exclude),
      },
      dest_bucket: f.dest_bucket.trim(),
      concurrency: Number(f.concurrency) || 8,
      bandwidth_limit: Number(f.bandwidth_limit) || 0,
      delete_extraneous: f.delete_extraneous,
      interval_seconds: Number(f.interval_seconds) || 0,
      start: f.start,
    };
    if (f.dry_run) body.dry_run = true;
    const r = await run(() => post('/admin/v1/migrations', body));
    if (r) onDone(r);
  };
  const tenantList = (tenants.data && tenants.data.tenants) || [];
  return (
    <Dialog title={t('job.create')} onClose={onClose} test="job-form">
      <form class="form grid2" onSubmit={submit} autocomplete="off">
        <Field label={t('col.tenant')}>
          {platform ? (
            <select name="tenant" required value={f.tenant} onChange={set('tenant')}>
              <option value="">{t('form.choose')}</option>
              {tenantList.filter((x) => x.name !== 'platform').map((x) => <option value={x.name}>{x.name}</option>)}
            </select>
          ) : <input name="tenant" value={f.tenant} readOnly />}
        </Field>
        <Field label={t('job.name')}><input name="name" required value={f.name} onInput={set('name')} /></Field>
        <fieldset class="wide fs">
          <legend>{t('job.source')}</legend>
          <div class="grid2">
            <Field label={t('job.provider')}>
              <select name="provider" value={f.provider} onChange={set('provider')}>
                {SOURCE_PROVIDERS.map((p) => <option value={p}>{t('srcprov.' + p)}</option>)}
              </select>
            </Field>
            <Field label={t('job.endpoint')} hint={t('job.endpoint.hint')}><input name="endpoint" required placeholder="https://oss-cn-beijing.aliyuncs.com" value={f.endpoint} onInput={set('endpoint')} /></Field>
            <Field label={t('job.region')}><input name="region" value={f.region} onInput={set('region')} /></Field>
            <Field label={t('job.bucket')}><input name="bucket" required value={f.bucket} onInput={set('bucket')} /></Field>
            <Field label={t('job.prefix')}><input name="prefix" value={f.prefix} onInput={set('prefix')} /></Field>
            <Field label={t('job.access_key')}><input name="access_key" required value={f.access_key} onInput={set('access_key')} /></Field>
            <Field label={t('job.secret_key')} hint={t('job.secret_key.hint')}><input name="secret_key" type="password" autocomplete="new-password" required value={f.secret_key} onInput={set('secret_key')} /></Field>
            <Field label={t('job.include')} hint={t('job.glob.hint')}><textarea name="include" rows="2" value={f.include} onInput={set('include')} /></Field>
            <Field label={t('job.exclude')} hint={t('job.glob.hint')}><textarea name="exclude" rows="2" value={f.exclude} onInput={set('exclude')} /></Field>
          </div>
        </fieldset>
        <Field label={t('job.dest_bucket')} hint={t('job.dest_bucket.hint')}><input name="dest_bucket" required value={f.dest_bucket} onInput={set('dest_bucket')} /></Field>
        <Field label={t('job.concurrency')}><input name="concurrency" type="number" min="1" max="64" value={f.concurrency} onInput={set('concurrency')} /></Field>
        <Field label={t('job.bandwidth')} hint={t('job.bandwidth.hint')}><input name="bandwidth_limit" type="number" min="0" value={f.bandwidth_limit} onInput={set('bandwidth_limit')} /></Field>
        <Field label={t('job.interval')} hint={t('job.interval.hint')}><input name="interval_seconds" type="number" min="0" value={f.interval_seconds} onInput={set('interval_seconds')} /></Field>
        <label class="field check"><input name="delete_extraneous" type="checkbox" checked={f.delete_extraneous} onChange={set('delete_extraneous')} /> {t('job.delete_extraneous')}</label>
        <label class="field check"><input name="dry_run" type="checkbox" checked={f.dry_run} onChange={set('dry_run')} /> {t('job.dry_run')}</label>
        <label class="field check"><input name="start" type="checkbox" checked={f.start} onChange={set('start')} /> {t('job.start_now')}</label>
        <div class="wide"><ErrorBox error={error || tenants.error} /></div>
        <div class="form-actions wide">
          <button type="button" class="btn" onClick={onClose}>{t('action.cancel')}</button>
          <button type="submit" class="btn primary" disabled={busy} data-test="job-submit">{busy ? t('common.saving') : t('action.create')}</button>
        </div>
      </form>
    </Dialog>
  );
}

export function Migrations({ session, params }) {
  const t = useT();
  const tenantParam = params.get('tenant') || '';
  const [creating, setCreating] = useState(!!tenantParam && session.role !== 'supervisor');
  const jobs = usePoll(() => get('/admin/v1/migrations' + qs({ tenant: tenantParam })), 2000, [tenantParam]);
  const rows = (jobs.data && jobs.data.migrations) || [];
  const canWrite = session.role === 'platform-admin' || session.role === 'tenant-admin';
  const columns = [
    { key: 'name', label: t('job.name'), render: (j) => <a href={'#/migrations/' + enc(j.id)} data-test="job-link">{j.name || j.id}</a> },
    { key: 'tenant_name', label: t('col.tenant'), cls: 'opt' },
    { key: 'state', label: t('col.state'), render: (j) => <StateBadge state={j.state} /> },
    { key: 'progress', label: t('col.progress'), sort: (j) => jobProgress(j).pct, render: (j) => { const p = jobProgress(j); return <Progress value={p.pct} label={p.label} />; } },
    { key: 'to_move', label: t('col.to_move'), cls: 'opt', sort: (j) => (j.estimate && j.estimate.bytes) || 0, render: (j) => <span data-test="job-estimate-cell">{estimateText(j.estimate, t)}</span> },
    { key: 'rate_bps', label: t('col.rate'), cls: 'opt', sort: (j) => (j.state === 'running' ? j.rate_bps || 0 : 0), render: liveRate },
    { key: 'eta_s', label: t('col.eta'), cls: 'opt', sort: (j) => (j.state === 'running' ? j.eta_s : null), render: (j) => liveEta(j, t) },
    { key: 'failed', label: t('col.failed'), cls: 'opt', sort: (j) => (j.stats || {}).failed || 0, render: (j) => num((j.stats || {}).failed || 0) },
    { key: 'actions', label: '', nosort: true, render: (j) => canWrite && <JobActions job={j} onDone={jobs.reload} /> },
  ];
  return (
    <section class="page">
      <div class="page-head">
        <h1>{t('nav.migrations')}{tenantParam ? ' · ' + tenantParam : ''}</h1>
        {canWrite && <button class="btn primary" data-test="job-create-open" onClick={() => setCreating(true)}>{t('job.create')}</button>}
      </div>
      <ErrorBox error={jobs.error} onRetry={jobs.reload} />
      <div class="card">
        {jobs.loading && !jobs.data ? <Loading /> : <SortTable columns={columns} rows={rows} rowKey={(j) => j.id} test="job-table" empty={t('job.none')} initialSort={{ key: 'name', dir: 1 }} />}
      </div>
      {creating && <CreateJob session={session} tenant={tenantParam} onClose={() => setCreating(false)}
        onDone={(j) => { setCreating(false); go('/migrations/' + enc(j.id)); }} />}
    </section>
  );
}

function FailedObjects({ job }) {
  const t = useT();
  const rep = usePoll(() => get('/admin/v1/migrations/' + enc(job.id) + '/report').catch((e) => {
    if (e.status === 404) return null; // no pass finished yet
    throw e;
  }), 0, [job.id, job.passes_done, job.state]);
  const r = rep.data;
  const rows = [];
  if (r) {
    for (const [kind, arr] of [['failed', r.failed], ['waiting', r.waiting], ['not_carried', r.not_carried]]) {
      for (const o of arr || []) rows.push({ kind, ...o });
    }
  }
  const columns = [
    { key: 'key', label: t('bucket.key') },
    { key: 'kind', label: t('col.state'), render: (o) => t('job.obj.' + o.kind) },
    { key: 'size', label: t('col.bytes'), cls: 'opt', render: (o) => bytes(o.size) },
    { key: 'reason', label: t('job.reason'), render: (o) => o.reason || o.detail || '—' },
    { key: 'retries', label: t('job.retries'), cls: 'opt', render: (o) => num(o.retries || 0) },
  ];
  return (
    <div class="card" data-test="job-failed">
      <div class="card-head">
        <h2>{t('job.failed_objects')}</h2>
        {r && <a class="btn small" href={'/admin/v1/migrations/' + enc(job.id) + '/report?format=csv'} download={'report-' + job.id + '.csv'}>{t('job.report_csv')}</a>}
      </div>
      <ErrorBox error={rep.error} onRetry={rep.reload} />
      {!r ? <p class="muted">{t('job.no_report')}</p> : <SortTable columns={columns} rows={rows} rowKey={(o) => o.kind + o.key} empty={t('job.no_failed')} />}
    </div>
  );
}

export function MigrationDetail({ session, id }) {
  const t = useT();
  const job = usePoll(() => get('/admin/v1/migrations/' + enc(id)), 2000, [id]);
  const j = job.data;
  if (!j) return job.error ? <section class="page"><ErrorBox error={job.error} onRetry={job.reload} /></section> : <Loading />;
  const s = j.stats || {};
  const p = jobProgress(j);
  const canWrite = session.role === 'platform-admin' || session.role === 'tenant-admin';
  return (
    <section class="page" data-test="job-page" data-state={j.state} data-job={j.id}>
      <div class="page-head">
        <h1>{j.name || j.id}</h1>
        <StateBadge state={j.state} />
        {j.phase && <span class="muted" data-test="job-phase">{t('job.phase.' + j.phase, null, j.phase)}</span>}
        {canWrite && <JobActions job={j} onDone={job.reload} withDelete />}
      </div>
      <ErrorBox error={job.error} onRetry={job.reload} />
      {j.error && <ErrorBox error={{ status: 0, code: t('job.error'), message: j.error }} hint={t('job.error.hint')} />}
      {j.state === 'completed' && s.failed === 0 && <Notice kind="ok">{t('job.verified_all', { n: num(s.verified + s.skipped) })}</Notice>}
      <div class="card">
        <Progress value={p.pct} label={p.label} test="job-progress" />
        <div class="kv">
          <div><span>{t('col.rate')}</span><strong data-test="job-rate">{liveRate(j)}</strong></div>
          <div><span>{t('col.eta')}</span><strong data-test="job-eta">{liveEta(j, t)}</strong></div>
          <div><span>{t('job.pass')}</span>{num(j.pass)} ({t('job.passes_done', { n: num(j.passes_done || 0) })})</div>
          <div><span>{t('job.listed')}</span>{num(s.listed)} · {bytes(s.listed_bytes)}</div>
          <div><span>{t('job.copied')}</span>{num(s.copied)} · {bytes(s.copied_bytes)}</div>
          <div><span>{t('job.verified')}</span><span><span data-test="job-verified">{num(s.verified)}</span> · {bytes(s.verified_bytes)}</span></div>
          <div><span>{t('job.skipped')}</span>{num(s.skipped)} · {bytes(s.skipped_bytes)}</div>
          <div><span>{t('col.failed')}</span><span data-test="job-failed-count" class={s.failed ? 'bad-text' : ''}>{num(s.failed)}</span></div>
          <div><span>{t('job.elapsed')}</span>{duration((s.elapsed_ms || 0) / 1000, t)}</div>
        </div>
      </div>
      <div class="card">
        <h2>{t('job.details')}</h2>
        <div class="kv">
          <div><span>{t('col.tenant')}</span><a href={'#/tenant/' + enc(j.tenant_name || j.tenant)}>{j.tenant_name || j.tenant}</a></div>
          <div><span>{t('job.source')}</span>{(j.source.provider || '') + ' ' + (j.source.endpoint || '') + ' / ' + (j.source.bucket || '') + '/' + (j.source.prefix || '')}</div>
          <div><span>{t('job.access_key')}</span>{j.source.access_key}</div>
          <div><span>{t('job.dest_bucket')}</span>{j.dest_bucket}</div>
          <div><span>{t('job.created')}</span>{time(j.created)}</div>
          <div><span>{t('job.started')}</span>{time(j.started)}</div>
          <div><span>{t('job.finished')}</span>{time(j.finished)}</div>
          {j.next_run && <div><span>{t('job.next_run')}</span>{time(j.next_run)}</div>}
          {j.manifest && <div><span>{t('tenant.manifests')}</span><a href={'/admin/v1/migrations/' + enc(j.id) + '/manifest'} download={'manifest-' + j.id + '.json'}>{t('manifest.download', { name: j.name || j.id, pass: j.pass })}</a></div>}
        </div>
      </div>
      <EstimateCard job={j} />
      <FailedObjects job={j} />
    </section>
  );
}
