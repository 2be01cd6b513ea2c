// overview.jsx - supervisor / platform-admin overview from GET /admin/v1/status: totals, the
// deadline timeline, and a sortable, filterable table of tenants. Platform admins add tenants.
import { useMemo, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { useT } from '../i18n.js';
import { Dialog, ErrorBox, Field, Loading, Progress, SortTable, StatusBadge, useAction, usePoll } from '../components.jsx';
import { DeadlineTimeline } from '../chart.jsx';
import { bytes, num, pct, rate, time } from '../format.js';
import { go, isPlatform, isPlatformAdmin } from '../nav.js';

/* A size that may be unknown (null: nothing listed and no estimate yet), never shown as 0 B. */
export function sizeOrUnknown(v, t) {
  return v === null || v === undefined ? t('common.unknown') : bytes(v);
}

/* Moved / total of a status row; the bar stays empty while the total is unknown. A total
 * that comes from a job's estimate says so in its tooltip (the text stays "moved / total"). */
export function movedCell(r, t) {
  const known = r.bytes_total !== null && r.bytes_total !== undefined;
  const label = bytes(r.bytes_moved) + ' / ' + sizeOrUnknown(r.bytes_total, t);
  const est = known && r.estimated_jobs > 0;
  return (
    <span class={est ? 'estimated' : ''} title={est ? t('overview.estimated') : undefined} data-estimated={est ? 'true' : undefined}>
      <Progress value={known ? pct(r.bytes_moved, r.bytes_total) : 0} label={label} />
    </span>
  );
}

const STATUSES = ['not-started', 'migrating', 'at-risk', 'verified', 'cut-over', 'overdue', 'violation'];

function Total({ label, value, raw, test, kind, sub }) {
  return (
    <div class={'total card ' + (kind || '')} data-test={test} data-value={raw}>
      <div class="total-label">{label}</div>
      <div class="total-value">{value}</div>
      {sub && <div class="total-sub">{sub}</div>}
    </div>
  );
}

export function AddTenant({ onClose, onDone }) {
  const t = useT();
  const [f, setF] = useState({ name: '', uscc: '', contact: '', max_bytes: '', max_objects: '' });
  const { busy, error, run } = useAction();
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
  const submit = async (e) => {
    e.preventDefault();
    const body = { name: f.name.trim(), uscc: f.uscc.trim(), contact: f.contact.trim() };
    const quota = {};
    if (f.max_bytes !== '') quota.max_bytes = Number(f.max_bytes);
    if (f.max_objects !== '') quota.max_objects = Number(f.max_objects);
    if (Object.keys(quota).length) body.quota = quota;
    const r = await run(() => post('/admin/v1/tenants', body));
    if (r) onDone(r);
  };
  return (
    <Dialog title={t('tenant.add')} onClose={onClose} test="add-tenant">
      <form class="form" onSubmit={submit}>
        <Field label={t('tenant.name')}><input name="name" required value={f.name} onInput={set('name')} /></Field>
        <Field label={t('tenant.uscc')} hint={t('tenant.uscc.hint')}><input name="uscc" required value={f.uscc} onInput={set('uscc')} /></Field>
        <Field label={t('tenant.contact')}><input name="contact" value={f.contact} onInput={set('contact')} /></Field>
        <Field label={t('tenant.max_bytes')} hint={t('quota.hint')}><input name="max_bytes" type="number" value={f.max_bytes} onInput={set('max_bytes')} /></Field>
        <Field label={t('tenant.max_objects')} hint={t('quota.hint')}><input name="max_objects" type="number" value={f.max_objects} onInput={set('max_objects')} /></Field>
        <ErrorBox error={error} />
        <div class="form-actions">
          <button type="button" class="btn" onClick={onClose}>{t('action.cancel')}</button>
          <button type="submit" class="btn primary" disabled={busy} data-test="add-tenant-submit">{busy ? t('common.saving') : t('action.create')}</button>
        </div>
      </form>
    </Dialog>
  );
}

export function Overview({ session }) {
  const t = useT();
  const [filter, setFilter] = useState('');
  const [status, setStatus] = useState('');
  const [adding, setAdding] = useState(false);
  const st = usePoll(() => get('/admin/v1/status'), 10000, []);
  const rows = (st.data && st.data.tenants) || [];
  const shown = useMemo(() => rows.filter((r) =>
    (!status || r.status === status) &&
    (!filter || (r.tenant || '').toLowerCase().includes(filter.toLowerCase()))), [rows, filter, status]);

  if (!isPlatform(session)) {
    return <ErrorBox error={{ status: 403, code: 'AccessDenied', message: t('err.platformonly') }} />;
  }
  if (st.loading && !st.data) return <Loading />;
  const tot = (st.data && st.data.totals) || {};
  const columns = [
    { key: 'tenant', label: t('col.tenant'), render: (r) => <a href={'#/tenant/' + encodeURIComponent(r.tenant)} data-test="tenant-link">{r.tenant}</a> },
    { key: 'status', label: t('col.status'), render: (r) => <StatusBadge status={r.status} /> },
    { key: 'deadline', label: t('col.deadline'), render: (r) => r.deadline || '—' },
    { key: 'days_left', label: t('col.days_left'), render: (r) => (r.days_left === null || r.days_left === undefined ? '—' : num(r.days_left)) },
    {
      key: 'moved', label: t('col.moved'),
      sort: (r) => (r.bytes_total === null || r.bytes_total === undefined ? -1 : pct(r.bytes_moved, r.bytes_total)),
      render: (r) => movedCell(r, t),
    },
    {
      key: 'bytes_verified', label: t('col.verified'), cls: 'opt',
      render: (r) => <span data-test="verified-cell" data-value={String(r.bytes_verified) + '/' + String(r.objects_verified)}
        title={t('overview.verified.tip')}>{bytes(r.bytes_verified)}</span>,
    },
    { key: 'rate_bps', label: t('col.rate'), cls: 'opt', render: (r) => rate(r.rate_bps) },
    { key: 'projected_finish', label: t('col.projected'), cls: 'opt', render: (r) => (r.projected_finish ? time(r.projected_finish) : t('common.unknown')) },
    { key: 'contracts', label: t('col.contracts'), cls: 'opt', render: (r) => num(r.contracts) },
  ];
  return (
    <section class="page">
      <div class="page-head">
        <h1>{t('nav.overview')}</h1>
        <span class="muted" data-test="as-of">{t('overview.as_of', { date: st.data ? st.data.as_of : '' })}</span>
        {isPlatformAdmin(session) && <button class="btn primary" data-test="add-tenant-open" onClick={() => setAdding(true)}>{t('tenant.add')}</button>}
      </div>
      <ErrorBox error={st.error} onRetry={st.reload} />
      <div class="totals">
        <Total label={t('overview.tenants')} value={num(tot.tenants)} raw={tot.tenants} test="total-tenants" />
        <Total label={t('overview.moved')} value={bytes(tot.bytes_moved) + ' / ' + sizeOrUnknown(tot.bytes_total, t)}
          raw={String(tot.bytes_moved) + '/' + String(tot.bytes_total)} test="total-moved"
          sub={<>
            <Progress value={pct(tot.bytes_moved, tot.bytes_total)} />
            {tot.unsized_tenants > 0 && <span class="muted" data-test="total-unsized">{t('overview.unsized', { n: num(tot.unsized_tenants) })}</span>}
          </>} />
        <Total label={t('overview.verified')} value={bytes(tot.bytes_verified) + ' / ' + sizeOrUnknown(tot.bytes_total, t)}
          raw={String(tot.bytes_verified) + '/' + String(tot.bytes_total)} test="total-verified"
          sub={<span class="muted">{t('overview.verified.tip')}</span>} />
        <Total label={t('overview.at_risk')} value={num(tot.at_risk)} raw={tot.at_risk} test="total-at-risk" kind={tot.at_risk ? 'warn' : ''} />
        <Total label={t('overview.overdue')} value={num(tot.overdue)} raw={tot.overdue} test="total-overdue" kind={tot.overdue ? 'bad' : ''} />
        <Total label={t('overview.violations')} value={num(tot.violations)} raw={tot.violations} test="total-violations" kind={tot.violations ? 'bad' : ''} />
        <Total label={t('overview.past_deadline')} value={num(tot.past_deadline)} raw={tot.past_deadline} test="total-past-deadline"
          kind={tot.past_deadline ? 'bad' : ''} sub={<span class="muted">{t('overview.past_deadline.tip')}</span>} />
      </div>
      <div class="card">
        <h2>{t('overview.timeline')}</h2>
        <DeadlineTimeline rows={rows} asOf={st.data && st.data.as_of} t={t} />
      </div>
      <div class="card">
        <div class="card-head">
          <h2>{t('overview.table')}</h2>
          <div class="filters">
            <input type="search" placeholder={t('overview.filter')} aria-label={t('overview.filter')}
              data-test="tenant-filter" value={filter} onInput={(e) => setFilter(e.target.value)} />
            <select aria-label={t('col.status')} data-test="status-filter" value={status} onChange={(e) => setStatus(e.target.value)}>
              <option value="">{t('overview.all_statuses')}</option>
              {STATUSES.map((s) => <option value={s}>{t('status.' + s)}</option>)}
            </select>
          </div>
        </div>
        <SortTable columns={columns} rows={shown} test="tenant-table" rowKey={(r) => r.tenant} initialSort={{ key: 'deadline', dir: 1 }} />
      </div>
      {adding && <AddTenant onClose={() => setAdding(false)} onDone={(ten) => { setAdding(false); go('/tenant/' + encodeURIComponent(ten.name)); }} />}
    </section>
  );
}
