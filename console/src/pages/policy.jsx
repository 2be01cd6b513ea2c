// policy.jsx - the deadline policy: everyone on the platform side reads it, platform admins
// change it (a preset, or the fields). A change recomputes every deadline and is audited.
import { useEffect, useState } from 'preact/hooks';
import { get, put } from '../api.js';
import { useT } from '../i18n.js';
import { ErrorBox, Field, Loading, Notice, useAction, usePoll } from '../components.jsx';
import { time } from '../format.js';
import { isPlatform, isPlatformAdmin } from '../nav.js';

const PRESETS = ['tianjin-2021'];

function toForm(p) {
  return {
    name: p.name || '',
    notice_date: p.notice_date || '',
    grace_months: String(p.grace_months ?? ''),
    final_deadline: p.final_deadline || '',
    time_zone: p.time_zone || 'Asia/Shanghai',
    at_risk_days: String(p.at_risk_days ?? ''),
  };
}

export function Policy({ session }) {
  const t = useT();
  const pol = usePoll(() => (isPlatform(session) ? get('/admin/v1/policy') : Promise.resolve(null)), 0, []);
  const [f, setF] = useState(null);
  const [saved, setSaved] = useState(false);
  const { busy, error, run } = useAction();
  useEffect(() => { if (pol.data) setF(toForm(pol.data)); }, [pol.data]);
  if (!isPlatform(session)) return <ErrorBox error={{ status: 403, code: 'AccessDenied', message: t('err.platformonly') }} />;
  if (pol.error) return <section class="page"><h1>{t('nav.policy')}</h1><ErrorBox error={pol.error} onRetry={pol.reload} /></section>;
  if (!pol.data || !f) return <Loading />;
  const admin = isPlatformAdmin(session);
  const set = (k) => (e) => { setSaved(false); setF({ ...f, [k]: e.target.value }); };
  const save = async (body) => {
    setSaved(false);
    const r = await run(() => put('/admin/v1/policy', body));
    if (r) { setSaved(true); pol.reload(); }
  };
  const submit = (e) => {
    e.preventDefault();
    save({
      name: f.name.trim(),
      notice_date: f.notice_date,
      grace_months: Number(f.grace_months),
      final_deadline: f.final_deadline || null,
      time_zone: f.time_zone.trim(),
      at_risk_days: Number(f.at_risk_days),
    });
  };
  const p = pol.data;
  return (
    <section class="page" data-test="policy-page">
      <div class="page-head">
        <h1>{t('nav.policy')}</h1>
        <span class="muted">{t('policy.version', { v: p.version, when: time(p.updated), who: p.updated_by || '—' })}</span>
      </div>
      <div class="card">
        <p>{t('policy.explain')}</p>
        <div class="kv" data-test="policy-current">
          <div><span>{t('policy.name')}</span><strong data-test="policy-name">{p.name}</strong></div>
          <div><span>{t('policy.notice_date')}</span>{p.notice_date}</div>
          <div><span>{t('policy.grace_months')}</span>{p.grace_months}</div>
          <div><span>{t('policy.final_deadline')}</span>{p.final_deadline || t('policy.none')}</div>
          <div><span>{t('policy.time_zone')}</span>{p.time_zone}</div>
          <div><span>{t('policy.at_risk_days')}</span>{p.at_risk_days}</div>
        </div>
      </div>
      {admin ? (
        <div class="card">
          <h2>{t('policy.change')}</h2>
          <div class="preset-row">
            {PRESETS.map((name) => (
              <button class="btn" data-test={'preset-' + name} disabled={busy}
                onClick={() => { if (window.confirm(t('policy.confirm'))) save({ preset: name }); }}>
                {t('policy.apply_preset', { name: t('preset.' + name, null, name) })}
              </button>
            ))}
          </div>
          <form class="form grid2" onSubmit={(e) => { if (window.confirm(t('policy.confirm'))) submit(e); else e.preventDefault(); }}>
            <Field label={t('policy.name')}><input name="name" required value={f.name} onInput={set('name')} /></Field>
            <Field label={t('policy.notice_date')} hint={t('policy.notice_date.hint')}><input name="notice_date" type="date" required value={f.notice_date} onInput={set('notice_date')} /></Field>
            <Field label={t('policy.grace_months')} hint={t('policy.grace_months.hint')}><input name="grace_months" type="number" min="0" max="120" required value={f.grace_months} onInput={set('grace_months')} /></Field>
            <Field label={t('policy.final_deadline')} hint={t('policy.final_deadline.hint')}><input name="final_deadline" type="date" value={f.final_deadline} onInput={set('final_deadline')} /></Field>
            <Field label={t('policy.time_zone')} hint={t('policy.time_zone.hint')}><input name="time_zone" required value={f.time_zone} onInput={set('time_zone')} /></Field>
            <Field label={t('policy.at_risk_days')}><input name="at_risk_days" type="number" min="0" max="3650" required value={f.at_risk_days} onInput={set('at_risk_days')} /></Field>
            <div class="wide"><ErrorBox error={error} />{saved && <Notice kind="ok">{t('policy.saved')}</Notice>}</div>
            <div class="form-actions wide">
              <button class="btn primary" type="submit" disabled={busy} data-test="policy-save">{busy ? t('common.saving') : t('action.save')}</button>
            </div>
          </form>
        </div>
      ) : <Notice kind="info">{t('policy.readonly')}</Notice>}
    </section>
  );
}
