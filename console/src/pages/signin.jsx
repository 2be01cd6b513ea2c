// signin.jsx - access key + secret key sign-in (POST /console/api/session).
import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { LANGS } from '../i18n.js';
import { ErrorBox, Notice, useAction } from '../components.jsx';
import { useT } from '../i18n.js';

export function SignIn({ onSignedIn, notice, lang, setLang }) {
  const t = useT();
  const [ak, setAk] = useState('');
  const [sk, setSk] = useState('');
  const { busy, error, run } = useAction();
  const submit = async (e) => {
    e.preventDefault();
    const s = await run(() => post('/console/api/session', { access_key: ak.trim(), secret_key: sk },
      { quiet401: true }));
    if (s && s !== true) onSignedIn(s);
  };
  return (
    <div class="signin-page">
      <form class="signin card" onSubmit={submit} data-test="signin-form">
        <div class="signin-head">
          <h1>{t('app.title')}</h1>
          <select class="lang" aria-label={t('app.language')} data-test="lang" value={lang}
            onChange={(e) => setLang(e.target.value)}>
            {LANGS.map(([v, label]) => <option value={v}>{label}</option>)}
          </select>
        </div>
        <p class="muted">{t('signin.intro')}</p>
        {notice && <Notice kind="info">{t(notice)}</Notice>}
        <label class="field">
          <span class="field-label">{t('signin.access_key')}</span>
          <input name="access_key" autocomplete="username" required value={ak}
            onInput={(e) => setAk(e.target.value)} />
        </label>
        <label class="field">
          <span class="field-label">{t('signin.secret_key')}</span>
          <input name="secret_key" type="password" autocomplete="current-password" required
            value={sk} onInput={(e) => setSk(e.target.value)} />
        </label>
        <ErrorBox error={error} />
        <button class="btn primary" type="submit" disabled={busy} data-test="signin-submit">
          {busy ? t('signin.busy') : t('signin.submit')}
        </button>
      </form>
    </div>
  );
}
