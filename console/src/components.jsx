// components.jsx - shared pieces: error box, progress bar, sortable/filterable table, dialog,
// form fields, status badge, polling hook.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useT } from './i18n.js';

/* Shows what happened (the API's code and message) and what to do about it. */
export function ErrorBox({ error, onRetry, hint: hintText }) {
  const t = useT();
  if (!error) return null;
  const code = error.code || 'Error';
  let hint = t('err.hint.generic');
  if (error.status === 0) hint = t('err.hint.network');
  else if (error.status === 401) hint = t('err.hint.signin');
  else if (error.status === 403) hint = t('err.hint.denied');
  else if (error.status === 404) hint = t('err.hint.notfound');
  else if (error.status === 409) hint = t('err.hint.conflict');
  else if (error.status === 413) hint = t('err.hint.toolarge');
  else if (error.status === 429) hint = t('err.hint.ratelimit');
  else if (error.status === 400) hint = t('err.hint.input');
  else if (error.status >= 500) hint = t('err.hint.server');
  if (hintText) hint = hintText;
  return (
    <div class="error" role="alert" data-test="error">
      <div class="error-what"><strong>{code}</strong>{error.status ? ' (HTTP ' + error.status + ')' : ''}: {error.message}</div>
      <div class="error-hint">{hint}</div>
      {onRetry && <button class="btn small" onClick={onRetry}>{t('action.retry')}</button>}
    </div>
  );
}

export function Notice({ kind, children }) {
  return <div class={'notice ' + (kind || 'info')} role="status">{children}</div>;
}

export function Loading() {
  const t = useT();
  return <div class="loading" aria-busy="true">{t('common.loading')}</div>;
}

export function Progress({ value, label, test }) {
  const v = Math.max(0, Math.min(100, Number(value) || 0));
  return (
    <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100"
      aria-valuenow={Math.round(v)} data-test={test}>
      <div class="progress-bar" style={{ width: v.toFixed(1) + '%' }} />
      <span class="progress-label">{label !== undefined ? label : v.toFixed(1) + '%'}</span>
    </div>
  );
}

export function StatusBadge({ status, test }) {
  const t = useT();
  if (!status) return <span class="badge">—</span>;
  return <span class={'badge st-' + status} data-test={test} data-status={status}>{t('status.' + status, null, status)}</span>;
}

export function StateBadge({ state }) {
  const t = useT();
  return <span class={'badge js-' + state} data-state={state}>{t('job.state.' + state, null, state)}</span>;
}

/* columns: [{key, label, render?(row), sort?(row) value, cls?: 'opt' (hidden on phones)}] */
export function SortTable({ columns, rows, initialSort, test, rowKey, empty }) {
  const t = useT();
  const [sort, setSort] = useState(initialSort || { key: columns[0].key, dir: 1 });
  const sorted = useMemo(() => {
    const col = columns.find((c) => c.key === sort.key) || columns[0];
    const val = col.sort || ((r) => r[col.key]);
    const out = [...rows];
    out.sort((a, b) => {
      const x = val(a), y = val(b);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      if (typeof x === 'number' && typeof y === 'number') return (x - y) * sort.dir;
      return String(x).localeCompare(String(y)) * sort.dir;
    });
    return out;
  }, [rows, sort, columns]);
  const click = (key) => setSort((s) => ({ key, dir: s.key === key ? -s.dir : 1 }));
  return (
    <div class="table-wrap">
      <table class="table" data-test={test}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th class={c.cls || ''} key={c.key} data-col={c.key}
                aria-sort={sort.key === c.key ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none'}>
                {c.nosort ? c.label : (
                  <button class="th-sort" onClick={() => click(c.key)}>
                    {c.label}{sort.key === c.key ? (sort.dir > 0 ? ' ▲' : ' ▼') : ''}
                  </button>
                )}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {sorted.length === 0 && (
            <tr><td class="empty" colSpan={columns.length}>{empty || t('common.empty')}</td></tr>
          )}
          {sorted.map((r, i) => (
            <tr key={rowKey ? rowKey(r) : i} data-row={rowKey ? rowKey(r) : i}>
              {columns.map((c) => (
                <td class={c.cls || ''} key={c.key} data-label={c.label} data-col={c.key}>
                  {c.render ? c.render(r) : (r[c.key] === null || r[c.key] === undefined ? '—' : String(r[c.key]))}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Dialog({ title, onClose, children, test }) {
  const ref = useRef(null);
  useEffect(() => {
    const el = ref.current && ref.current.querySelector('input,select,textarea,button.primary');
    if (el) el.focus();
    const esc = (e) => { if (e.key === 'Escape') onClose(); };
    window.addEventListener('keydown', esc);
    return () => window.removeEventListener('keydown', esc);
  }, []);
  return (
    <div class="dialog-backdrop" onClick={(e) => { if (e.target === e.currentTarget) onClose(); }}>
      <div class="dialog" role="dialog" aria-modal="true" aria-label={title} ref={ref} data-test={test}>
        <div class="dialog-head">
          <h2>{title}</h2>
          <button class="icon-btn" aria-label="close" onClick={onClose}>✕</button>
        </div>
        {children}
      </div>
    </div>
  );
}

export function Field({ label, children, hint, wide }) {
  return (
    <label class={'field' + (wide ? ' wide' : '')}>
      <span class="field-label">{label}</span>
      {children}
      {hint && <span class="field-hint">{hint}</span>}
    </label>
  );
}

/* Polls fn every ms while the page is shown; returns {data, error, loading, reload}. */
export function usePoll(fn, ms, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const gen = useRef(0);
  const load = useCallback(async () => {
    const my = gen.current;
    try {
      const data = await fn();
      if (my === gen.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (my === gen.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, deps);
  useEffect(() => {
    gen.current++;
    setState({ data: null, error: null, loading: true });
    load();
    if (!ms) return () => { gen.current++; };
    const id = setInterval(() => { if (!document.hidden) load(); }, ms);
    return () => { gen.current++; clearInterval(id); };
  }, [load, ms]);
  return { ...state, reload: load };
}

/* Runs an async action, keeping busy/error state for a form. run() resolves to the action's
 * result (true when it returned nothing) or false when it failed (error holds why). */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = useCallback(async (fn) => {
    setBusy(true);
    setError(null);
    try {
      const r = await fn();
      setBusy(false);
      return r === undefined || r === null ? true : r;
    } catch (e) {
      setError(e);
      setBusy(false);
      return false;
    }
  }, []);
  return { busy, error, run, setError };
}
