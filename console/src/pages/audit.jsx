// audit.jsx - the audit log (supervisors and platform admins): filters (tenant, time range,
// limit on the server; action, user and outcome in the page) and export as JSON lines.
import { useMemo, useState } from 'preact/hooks';
import { get, qs, saveText } from '../api.js';
import { useT } from '../i18n.js';
import { ErrorBox, Field, Loading, Notice, SortTable, usePoll } from '../components.jsx';
import { time } from '../format.js';
import { isPlatform } from '../nav.js';

export function Audit({ session }) {
  const t = useT();
  const [form, setForm] = useState({ tenant: '', from: '', to: '', limit: '500' });
  const [query, setQuery] = useState(form);
  const [action, setAction] = useState('');
  const [outcome, setOutcome] = useState('');
  const a = usePoll(() => (isPlatform(session)
    ? get('/admin/v1/audit' + qs({ tenant: query.tenant, from: query.from, to: query.to, limit: query.limit }))
    : Promise.resolve(null)), 0, [JSON.stringify(query)]);
  const entries = (a.data && a.data.entries) || [];
  const shown = useMemo(() => entries.filter((e) =>
    (!outcome || e.outcome === outcome) &&
    (!action || [e.action, e.user, e.principal, e.resource].some((x) => String(x || '').toLowerCase().includes(action.toLowerCase())))),
  [entries, action, outcome]);
  if (!isPlatform(session)) return <ErrorBox error={{ status: 403, code: 'AccessDenied', message: t('err.platformonly') }} />;
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const exportIt = () => {
    const text = shown.map((e) => JSON.stringify(e)).join('\n') + (shown.length ? '\n' : '');
    const stamp = new Date().toISOString().replace(/[:.]/g, '').slice(0, 15);
    saveText('audit-' + stamp + '.jsonl', text, 'application/x-ndjson');
  };
  const columns = [
    { key: 'time', label: t('audit.time'), render: (e) => time(e.time) },
    { key: 'action', label: t('audit.action') },
    { key: 'user', label: t('audit.user'), cls: 'opt', render: (e) => e.user || e.principal || '—' },
    { key: 'tenant', label: t('col.tenant'), cls: 'opt' },
    { key: 'resource', label: t('audit.resource'), cls: 'opt' },
    { key: 'outcome', label: t('audit.outcome'), render: (e) => <span class={'badge oc-' + e.outcome}>{t('audit.outcome.' + e.outcome, null, e.outcome)}</span> },
    { key: 'source', label: t('audit.source'), cls: 'opt' },
  ];
  return (
    <section class="page">
      <div class="page-head">
        <h1>{t('nav.audit')}</h1>
        <button class="btn" data-test="audit-export" disabled={!shown.length} onClick={exportIt}>{t('audit.export')}</button>
      </div>
      <form class="card filters-form" onSubmit={(e) => { e.preventDefault(); setQuery({ ...form }); }}>
        <Field label={t('col.tenant')}><input name="tenant" value={form.tenant} onInput={set('tenant')} /></Field>
        <Field label={t('audit.from')}><input name="from" type="date" value={form.from} onInput={set('from')} /></Field>
        <Field label={t('audit.to')} hint={t('audit.to.hint')}><input name="to" type="date" value={form.to} onInput={set('to')} /></Field>
        <Field label={t('audit.limit')}><input name="limit" type="number" min="1" max="10000" value={form.limit} onInput={set('limit')} /></Field>
        <button class="btn primary" type="submit" data-test="audit-apply">{t('action.apply')}</button>
      </form>
      <div class="card">
        <div class="card-head">
          <div class="filters">
            <input type="search" placeholder={t('audit.search')} aria-label={t('audit.search')} data-test="audit-search" value={action} onInput={(e) => setAction(e.target.value)} />
            <select aria-label={t('audit.outcome')} value={outcome} onChange={(e) => setOutcome(e.target.value)} data-test="audit-outcome">
              <option value="">{t('audit.all_outcomes')}</option>
              {['allow', 'deny', 'error'].map((o) => <option value={o}>{t('audit.outcome.' + o)}</option>)}
            </select>
          </div>
          <span class="muted" data-test="audit-count">{t('audit.count', { n: shown.length, total: entries.length })}</span>
        </div>
        <ErrorBox error={a.error} onRetry={a.reload} />
        {a.data && a.data.truncated && <Notice kind="info">{t('audit.truncated')}</Notice>}
        {a.loading && !a.data ? <Loading /> : <SortTable columns={columns} rows={shown} rowKey={(e) => String(e.seq) + e.request_id} test="audit-table" initialSort={{ key: 'time', dir: -1 }} />}
      </div>
    </section>
  );
}
