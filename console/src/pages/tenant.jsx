// tenant.jsx - one tenant: status and deadline, contracts (platform admins add, edit, close,
// link them to the tenant's migration jobs), migration jobs with live progress (polled every
// 2 s), buckets and usage against quotas, and the evidence manifests of finished passes.
import { useState } from 'preact/hooks';
import { del, enc, get, post, put, qs } from '../api.js';
import { useT } from '../i18n.js';
import {
  Dialog, ErrorBox, Field, Loading, Progress, SortTable, StateBadge, StatusBadge, useAction, usePoll,
} from '../components.jsx';
import { bytes, num, pct, rate, time } from '../format.js';
import { canManageTenant, isPlatformAdmin, isTenantRole } from '../nav.js';
import { jobProgress, liveEta, liveRate } from './migrations.jsx';
import { movedCell } from './overview.jsx';

export const PROVIDERS = ['aliyun', 'huawei', 'tencent', 'aws', 'china-mobile', 'china-unicom', 'china-telecom', 'other'];

const list = (s) => s.split(/[,，\n]/).map((x) => x.trim()).filter(Boolean);

/* The tenant's jobs to link a contract to (checkboxes), plus any linked id whose job is gone. */
function JobChoice({ tenant, value, onChange }) {
  const t = useT();
  const js = usePoll(() => get('/admin/v1/migrations' + qs({ tenant })), 0, [tenant]);
  const jobs = (js.data && js.data.migrations) || [];
  const known = new Set(jobs.map((j) => j.id));
  const choices = [...jobs.map((j) => ({ id: j.id, label: j.name || j.id })),
    ...value.filter((id) => !known.has(id)).map((id) => ({ id, label: t('contract.jobs.missing', { id }) }))];
  const toggle = (id) => (e) => onChange(e.target.checked ? [...value.filter((x) => x !== id), id] : value.filter((x) => x !== id));
  return (
    <fieldset class="wide fs" data-test="contract-jobs">
      <legend>{t('contract.jobs')}</legend>
      <span class="field-hint">{t('contract.jobs.hint')}</span>
      <ErrorBox error={js.error} onRetry={js.reload} />
      {js.loading && !js.data ? <Loading /> : choices.length === 0 ? <p class="muted">{t('contract.jobs.none')}</p> : (
        <div class="checklist">
          {choices.map((c) => (
            <label class="field check"><input type="checkbox" name="jobs" value={c.id} checked={value.includes(c.id)} onChange={toggle(c.id)} /> {c.label}</label>
          ))}
        </div>
      )}
    </fieldset>
  );
}

function ContractForm({ tenant, contract, onClose, onDone }) {
  const t = useT();
  const c = contract || {};
  const [f, setF] = useState({
    provider: c.provider || 'aliyun',
    services: (c.services || []).join(', '),
    buckets: (c.buckets || []).join(', '),
    signed: c.signed || '',
    start: c.start || '',
    expiry: c.expiry || '',
    renewed: !!c.renewed,
    renewed_date: c.renewed_date || '',
    notes: c.notes || '',
    jobs: c.jobs || [],
  });
  const { busy, error, run } = useAction();
  const set = (k) => (e) => setF({ ...f, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  const submit = async (e) => {
    e.preventDefault();
    const body = {
      provider: f.provider,
      services: list(f.services),
      buckets: list(f.buckets),
      signed: f.signed,
      start: f.start || null,
      expiry: f.expiry,
      renewed: f.renewed,
      renewed_date: f.renewed ? (f.renewed_date || null) : null,
      notes: f.notes,
      jobs: f.jobs,
    };
    const r = await run(() => (contract
      ? put('/admin/v1/contracts/' + enc(contract.id), body)
      : post('/admin/v1/contracts', { tenant, ...body })));
    if (r) onDone(r);
  };
  return (
    <Dialog title={contract ? t('contract.edit') : t('contract.add')} onClose={onClose} test="contract-form">
      <form class="form grid2" onSubmit={submit}>
        <Field label={t('contract.provider')}>
          <select name="provider" value={f.provider} onChange={set('provider')}>
            {PROVIDERS.map((p) => <option value={p}>{t('provider.' + p)}</option>)}
          </select>
        </Field>
        <Field label={t('contract.services')} hint={t('form.list_hint')}><input name="services" value={f.services} onInput={set('services')} /></Field>
        <Field label={t('contract.buckets')} hint={t('form.list_hint')}><input name="buckets" value={f.buckets} onInput={set('buckets')} /></Field>
        <Field label={t('contract.signed')}><input name="signed" type="date" required value={f.signed} onInput={set('signed')} /></Field>
        <Field label={t('contract.start')}><input name="start" type="date" value={f.start} onInput={set('start')} /></Field>
        <Field label={t('contract.expiry')}><input name="expiry" type="date" required value={f.expiry} onInput={set('expiry')} /></Field>
        <label class="field check"><input name="renewed" type="checkbox" checked={f.renewed} onChange={set('renewed')} /> {t('contract.renewed')}</label>
        {f.renewed && <Field label={t('contract.renewed_date')}><input name="renewed_date" type="date" value={f.renewed_date} onInput={set('renewed_date')} /></Field>}
        <Field label={t('contract.notes')} wide><textarea name="notes" rows="2" value={f.notes} onInput={set('notes')} /></Field>
        <JobChoice tenant={tenant} value={f.jobs} onChange={(jobs) => setF({ ...f, jobs })} />
        <div class="wide"><ErrorBox error={error} /></div>
        <div class="form-actions wide">
          <button type="button" class="btn" onClick={onClose}>{t('action.cancel')}</button>
          <button type="submit" class="btn primary" disabled={busy} data-test="contract-submit">{busy ? t('common.saving') : t('action.save')}</button>
        </div>
      </form>
    </Dialog>
  );
}

function CloseContract({ contract, onClose, onDone }) {
  const t = useT();
  const [d, setD] = useState(new Date().toISOString().slice(0, 10));
  const { busy, error, run } = useAction();
  const submit = async (e) => {
    e.preventDefault();
    const r = await run(() => post('/admin/v1/contracts/' + enc(contract.id) + '/close', { date: d }));
    if (r) onDone(r);
  };
  return (
    <Dialog title={t('contract.close')} onClose={onClose} test="contract-close">
      <form class="form" onSubmit={submit}>
        <p>{t('contract.close.explain')}</p>
        <Field label={t('contract.closed')}><input name="date" type="date" required value={d} onInput={(e) => setD(e.target.value)} /></Field>
        <ErrorBox error={error} />
        <div class="form-actions">
          <button type="button" class="btn" onClick={onClose}>{t('action.cancel')}</button>
          <button type="submit" class="btn primary" disabled={busy} data-test="contract-close-submit">{t('contract.close')}</button>
        </div>
      </form>
    </Dialog>
  );
}

function Contracts({ session, tenant }) {
  const t = useT();
  const cs = usePoll(() => get('/admin/v1/contracts' + qs({ tenant })), 0, [tenant]);
  // job names for the linked jobs (a failure leaves the ids shown)
  const js = usePoll(() => get('/admin/v1/migrations' + qs({ tenant })).catch(() => null), 0, [tenant]);
  const jobName = new Map(((js.data && js.data.migrations) || []).map((j) => [j.id, j.name || j.id]));
  const [editing, setEditing] = useState(null); // {} new, contract edit
  const [closing, setClosing] = useState(null);
  const act = useAction();
  const admin = isPlatformAdmin(session);
  const rows = (cs.data && cs.data.contracts) || [];
  const remove = async (c) => {
    if (!window.confirm(t('contract.delete.confirm', { id: c.id }))) return;
    if (await act.run(() => del('/admin/v1/contracts/' + enc(c.id)))) cs.reload();
  };
  const columns = [
    { key: 'provider', label: t('contract.provider'), render: (c) => t('provider.' + c.provider, null, c.provider) },
    { key: 'services', label: t('contract.services'), cls: 'opt', render: (c) => (c.services || []).join(', ') || '—' },
    { key: 'buckets', label: t('contract.buckets'), cls: 'opt', render: (c) => (c.buckets || []).join(', ') || '—' },
    { key: 'signed', label: t('contract.signed'), cls: 'opt' },
    { key: 'expiry', label: t('contract.expiry') },
    {
      key: 'renewed', label: t('contract.renewed'), cls: 'opt', sort: (c) => (c.renewed ? c.renewed_date || '' : null),
      render: (c) => <span data-test="contract-renewed">{c.renewed ? c.renewed_date || '—' : t('contract.not_renewed')}</span>,
    },
    { key: 'deadline', label: t('col.deadline'), render: (c) => <strong data-test="contract-deadline">{c.deadline || '—'}</strong> },
    {
      key: 'state', label: t('col.state'),
      render: (c) => (
        <span>
          {c.state === 'closed' ? t('contract.state.closed', { date: c.closed }) : t('contract.state.open')}
          {c.violation && <span class="badge st-violation" title={c.violation_reason || ''} data-test="contract-violation"> {t('status.violation')}</span>}
        </span>
      ),
    },
    {
      key: 'jobs', label: t('contract.jobs'), cls: 'opt', sort: (c) => (c.jobs || []).length,
      render: (c) => ((c.jobs || []).length === 0 ? '—' : (
        <span data-test="contract-jobs-cell">
          {c.jobs.map((id, i) => <>{i > 0 && ', '}<a href={'#/migrations/' + enc(id)} data-test="contract-job" data-job={id}>{jobName.get(id) || id}</a></>)}
        </span>
      )),
    },
    {
      key: 'notes', label: t('contract.notes'), cls: 'opt notes',
      render: (c) => (c.notes ? <span data-test="contract-notes" title={c.notes}>{c.notes}</span> : '—'),
    },
    {
      key: 'actions', label: '', nosort: true,
      render: (c) => admin && (
        <span class="row-actions">
          <button class="btn small" onClick={() => setEditing(c)}>{t('action.edit')}</button>
          {c.state !== 'closed' && <button class="btn small" onClick={() => setClosing(c)}>{t('contract.close')}</button>}
          <button class="btn small danger" onClick={() => remove(c)}>{t('action.delete')}</button>
        </span>
      ),
    },
  ];
  const done = () => { setEditing(null); setClosing(null); cs.reload(); js.reload(); };
  return (
    <div class="card" data-test="contracts">
      <div class="card-head">
        <h2>{t('tenant.contracts')}</h2>
        {admin && <button class="btn primary" data-test="contract-add" onClick={() => setEditing({})}>{t('contract.add')}</button>}
      </div>
      <ErrorBox error={cs.error || act.error} onRetry={cs.reload} />
      {cs.loading && !cs.data ? <Loading /> : <SortTable columns={columns} rows={rows} test="contract-table" rowKey={(c) => c.id} initialSort={{ key: 'expiry', dir: 1 }} empty={t('contract.none')} />}
      {editing && <ContractForm tenant={tenant} contract={editing.id ? editing : null} onClose={() => setEditing(null)} onDone={done} />}
      {closing && <CloseContract contract={closing} onClose={() => setClosing(null)} onDone={done} />}
    </div>
  );
}

function StatusCard({ tenant }) {
  const t = useT();
  const st = usePoll(() => get('/admin/v1/status' + qs({ tenant })), 5000, [tenant]);
  const row = st.data && st.data.tenants && st.data.tenants[0];
  return (
    <div class="card" data-test="tenant-status">
      <h2>{t('tenant.status')}</h2>
      <ErrorBox error={st.error} onRetry={st.reload} />
      {!row ? (st.loading ? <Loading /> : <p class="muted">{t('common.empty')}</p>) : (
        <div class="kv">
          <div><span>{t('col.status')}</span><StatusBadge status={row.status} test="tenant-status-badge" /></div>
          <div><span>{t('col.deadline')}</span><strong data-test="tenant-deadline">{row.deadline || '—'}</strong></div>
          <div><span>{t('col.days_left')}</span><strong data-test="tenant-days-left">{row.days_left === null || row.days_left === undefined ? '—' : num(row.days_left)}</strong></div>
          <div><span>{t('col.moved')}</span>{movedCell(row, t)}</div>
          <div><span>{t('col.objects')}</span>{num(row.objects_moved)} / {row.objects_total == null ? t('common.unknown') : num(row.objects_total)}</div>
          <div title={t('overview.verified.tip')}><span>{t('col.verified')}</span><strong data-test="tenant-verified" data-value={String(row.bytes_verified) + '/' + String(row.objects_verified)}>{bytes(row.bytes_verified)} · {num(row.objects_verified)}</strong></div>
          <div><span>{t('col.rate')}</span>{rate(row.rate_bps)}</div>
          <div><span>{t('col.projected')}</span>{row.projected_finish ? time(row.projected_finish) : t('common.unknown')}</div>
          {(row.violations || []).length > 0 && (
            <div class="wide"><span>{t('status.violation')}</span>{row.violations.map((v) => <div class="bad-text">{typeof v === 'string' ? v : (v.reason || JSON.stringify(v))}</div>)}</div>
          )}
        </div>
      )}
    </div>
  );
}

function Jobs({ session, tenant }) {
  const t = useT();
  const jobs = usePoll(() => get('/admin/v1/migrations' + qs({ tenant })), 2000, [tenant]);
  const rows = (jobs.data && jobs.data.migrations) || [];
  const columns = [
    { key: 'name', label: t('job.name'), render: (j) => <a href={'#/migrations/' + enc(j.id)}>{j.name || j.id}</a> },
    { key: 'state', label: t('col.state'), render: (j) => <StateBadge state={j.state} /> },
    { key: 'progress', label: t('col.progress'), sort: (j) => jobProgress(j).pct, render: (j) => { const p = jobProgress(j); return <Progress value={p.pct} label={p.label} />; } },
    { key: 'rate_bps', label: t('col.rate'), cls: 'opt', sort: (j) => (j.state === 'running' ? j.rate_bps || 0 : 0), render: liveRate },
    { key: 'eta_s', label: t('col.eta'), cls: 'opt', sort: (j) => (j.state === 'running' ? j.eta_s : null), render: (j) => liveEta(j, t) },
  ];
  return (
    <>
      <div class="card" data-test="tenant-jobs">
        <div class="card-head">
          <h2>{t('tenant.jobs')}</h2>
          {canManageTenant(session) && <a class="btn" data-test="tenant-job-create" href={'#/migrations?tenant=' + enc(tenant)}>{t('job.create')}</a>}
        </div>
        <ErrorBox error={jobs.error} onRetry={jobs.reload} />
        {jobs.loading && !jobs.data ? <Loading /> : <SortTable columns={columns} rows={rows} rowKey={(j) => j.id} test="job-table" empty={t('job.none')} />}
      </div>
      <Manifests jobs={rows.filter((j) => j.manifest)} />
    </>
  );
}

/* Every manifest the tenant's jobs filed (all passes, GET .../manifests of each job that
 * has one), newest first; reloaded when a job finishes another pass. */
function Manifests({ jobs }) {
  const t = useT();
  const key = jobs.map((j) => j.id + ':' + j.passes_done).join(',');
  const mf = usePoll(() => Promise.all(jobs.map((j) => get('/admin/v1/migrations/' + enc(j.id) + '/manifests')
    .then((r) => (r.manifests || []).map((m) => ({ ...m, job: j }))))).then((a) => a.flat()), 0, [key]);
  const rows = mf.data || [];
  const columns = [
    { key: 'created', label: t('manifest.created'), render: (m) => time(m.created) },
    { key: 'job', label: t('job.name'), sort: (m) => m.job.name || m.job.id, render: (m) => <a href={'#/migrations/' + enc(m.job.id)}>{m.job.name || m.job.id}</a> },
    { key: 'pass', label: t('job.pass'), render: (m) => num(m.pass) },
    { key: 'objects', label: t('col.objects'), render: (m) => num(m.objects) },
    { key: 'bytes', label: t('col.bytes'), cls: 'opt', render: (m) => bytes(m.bytes) },
    {
      key: 'download', label: '', nosort: true,
      render: (m) => <a class="btn small" data-test="manifest-download" href={'/admin/v1/migrations/' + enc(m.job.id) + '/manifests/' + m.pass} download={'manifest-' + m.job.id + '-' + m.pass + '.json'}>{t('manifest.get')}</a>,
    },
  ];
  return (
    <div class="card" data-test="manifests">
      <h2>{t('tenant.manifests')}</h2>
      <ErrorBox error={mf.error} onRetry={mf.reload} />
      {jobs.length === 0 || (mf.data && rows.length === 0) ? <p class="muted">{t('manifest.none')}</p>
        : (mf.loading && !mf.data ? <Loading /> : <SortTable columns={columns} rows={rows} test="manifest-table" rowKey={(m) => m.job.id + '-' + m.pass} initialSort={{ key: 'created', dir: -1 }} />)}
    </div>
  );
}

function Usage({ tenant }) {
  const t = useT();
  const u = usePoll(() => get('/admin/v1/usage' + qs({ tenant })), 0, [tenant]);
  const row = u.data && u.data.tenants && u.data.tenants[0];
  const quota = (q, used, fmt) => (q === undefined || q === null || q < 0
    ? fmt(used) + ' / ' + t('quota.unlimited')
    : <Progress value={pct(used, q)} label={fmt(used) + ' / ' + fmt(q)} />);
  const columns = [
    { key: 'name', label: t('bucket.name'), render: (b) => <a href={'#/buckets/' + enc(b.name)}>{b.name}</a> },
    { key: 'bytes', label: t('col.bytes'), render: (b) => quota(b.quota && b.quota.max_bytes, b.bytes, bytes) },
    { key: 'objects', label: t('col.objects'), cls: 'opt', render: (b) => quota(b.quota && b.quota.max_objects, b.objects, num) },
  ];
  return (
    <div class="card" data-test="tenant-usage">
      <h2>{t('tenant.usage')}</h2>
      <ErrorBox error={u.error} onRetry={u.reload} />
      {row && (
        <div class="kv">
          <div data-test="usage-bytes"><span>{t('col.bytes')}</span>{quota(row.quota && row.quota.max_bytes, row.bytes, bytes)}</div>
          <div data-test="usage-objects"><span>{t('col.objects')}</span>{quota(row.quota && row.quota.max_objects, row.objects, num)}</div>
        </div>
      )}
      {row && <SortTable columns={columns} rows={row.buckets || []} rowKey={(b) => b.name} test="bucket-usage" empty={t('bucket.none')} />}
    </div>
  );
}

export function TenantPage({ session, name }) {
  const t = useT();
  const own = isTenantRole(session) && (name === session.tenant_name || name === session.tenant);
  const info = usePoll(() => (isTenantRole(session) && !own ? Promise.resolve(null) : get('/admin/v1/tenants/' + enc(name))), 0, [name]);
  if (!name) return null;
  if (isTenantRole(session) && !own) {
    return (
      <section class="page" data-test="tenant-denied">
        <ErrorBox error={{ status: 403, code: 'AccessDenied', message: t('err.othertenant', { tenant: name }) }} />
      </section>
    );
  }
  if (info.error) return <section class="page"><h1>{name}</h1><ErrorBox error={info.error} onRetry={info.reload} /></section>;
  if (!info.data) return <Loading />;
  const ten = info.data;
  return (
    <section class="page" data-test="tenant-page" data-tenant={ten.name}>
      <div class="page-head">
        <h1>{ten.name}</h1>
        <span class="muted">{t('tenant.uscc')}: {ten.uscc || '—'}</span>
        {ten.status === 'suspended' && <span class="badge st-overdue">{t('tenant.suspended')}</span>}
      </div>
      <div class="grid2">
        <StatusCard tenant={ten.name} />
        <Usage tenant={ten.name} />
      </div>
      <Contracts session={session} tenant={ten.name} />
      <Jobs session={session} tenant={ten.name} />
    </section>
  );
}
