// main.jsx - the console's shell: session, hash router, header (user, role, tenant, language,
// sign-out), the menu (a drawer on phones) and the pages.
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import './style.css';
import { get, del, setCsrfToken, setUnauthorizedHandler } from './api.js';
import { LangContext, LANGS, initialLang, makeT, storeLang } from './i18n.js';
import { ErrorBox, Loading } from './components.jsx';
import { go, isPlatform, isTenantRole } from './nav.js';
import { SignIn } from './pages/signin.jsx';
import { Overview } from './pages/overview.jsx';
import { TenantPage } from './pages/tenant.jsx';
import { Migrations, MigrationDetail } from './pages/migrations.jsx';
import { Buckets, BucketBrowser } from './pages/buckets.jsx';
import { Audit } from './pages/audit.jsx';
import { Policy } from './pages/policy.jsx';


function safeDecode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

/* "#/buckets/NAME?prefix=P" -> {parts: ["buckets", "NAME"], params}. Each part is decoded
 * after splitting, so encoded "/", "?" and "&" in names and prefixes survive. */
function parseHash() {
  const h = (location.hash || '').replace(/^#/, '') || '/';
  const q = h.indexOf('?');
  const pathPart = q < 0 ? h : h.slice(0, q);
  const parts = pathPart.split('/').filter(Boolean).map(safeDecode);
  const params = new URLSearchParams(q < 0 ? '' : h.slice(q + 1));
  return { parts, params, raw: safeDecode(h) };
}

/* The menu for a role: [route, dictionary key]. */
function menuFor(s) {
  const items = [];
  if (isPlatform(s)) items.push(['/overview', 'nav.overview']);
  if (s.role === 'tenant-admin') items.push(['/tenant/' + s.tenant_name, 'nav.tenant']);
  if (s.role === 'platform-admin' || s.role === 'supervisor' || s.role === 'tenant-admin') {
    items.push(['/migrations', 'nav.migrations']);
  }
  if (isTenantRole(s)) items.push(['/buckets', 'nav.buckets']);
  if (isPlatform(s)) items.push(['/audit', 'nav.audit']);
  if (s.role === 'platform-admin' || s.role === 'supervisor') items.push(['/policy', 'nav.policy']);
  return items;
}

function home(s) {
  if (isPlatform(s)) return '/overview';
  if (s.role === 'tenant-admin') return '/tenant/' + s.tenant_name;
  return '/buckets';
}

function Page({ route, session }) {
  const [top, a, b] = route.parts;
  switch (top) {
    case 'overview': return <Overview session={session} />;
    case 'tenant': return <TenantPage session={session} name={a} />;
    case 'migrations':
      return a ? <MigrationDetail session={session} id={a} /> : <Migrations session={session} params={route.params} />;
    case 'buckets':
      return a ? <BucketBrowser session={session} bucket={a} prefix={route.params.get('prefix') || ''} key={a + '|' + (route.params.get('prefix') || '')} />
        : <Buckets session={session} />;
    case 'audit': return <Audit session={session} />;
    case 'policy': return <Policy session={session} />;
    default: return null;
  }
}

function Header({ session, lang, setLang, onSignOut, t, menuOpen, setMenuOpen }) {
  return (
    <header class="topbar">
      <button class="icon-btn menu-toggle" aria-label={t('nav.menu')} aria-expanded={menuOpen}
        data-test="menu-toggle" onClick={() => setMenuOpen(!menuOpen)}>☰</button>
      <a class="brand" href="#/">{t('app.title')}</a>
      <div class="who" data-test="who">
        <span class="who-user" data-test="who-user">{session.user}</span>
        <span class="who-role" data-test="who-role">{t('role.' + session.role, null, session.role)}</span>
        <span class="who-tenant" data-test="who-tenant">{session.tenant_name || session.tenant}</span>
      </div>
      <select class="lang" aria-label={t('app.language')} data-test="lang" value={lang}
        onChange={(e) => setLang(e.target.value)}>
        {LANGS.map(([v, label]) => <option value={v}>{label}</option>)}
      </select>
      <button class="btn small" data-test="signout" onClick={onSignOut}>{t('app.signout')}</button>
    </header>
  );
}

function App() {
  const [lang, setLangState] = useState(initialLang());
  const t = useMemo(() => makeT(lang), [lang]);
  const [session, setSession] = useState(undefined); // undefined: checking; null: signed out
  const [notice, setNotice] = useState(null);
  const [route, setRoute] = useState(parseHash());
  const [menuOpen, setMenuOpen] = useState(false);

  const setLang = useCallback((l) => { storeLang(l); setLangState(l); }, []);
  useEffect(() => { document.documentElement.lang = lang; document.title = t('app.title'); }, [lang]);
  useEffect(() => {
    const f = () => { setRoute(parseHash()); setMenuOpen(false); window.scrollTo(0, 0); };
    window.addEventListener('hashchange', f);
    return () => window.removeEventListener('hashchange', f);
  }, []);
  useEffect(() => {
    setUnauthorizedHandler(() => {
      setCsrfToken(null);
      setSession(null);
      setNotice('session.expired');
    });
    get('/console/api/session', { quiet401: true })
      .then((s) => { setCsrfToken(s.csrf_token); setSession(s); })
      .catch(() => setSession(null));
  }, []);

  const signedIn = (s) => {
    setCsrfToken(s.csrf_token);
    setNotice(null);
    setSession(s);
    if (!route.parts.length) go(home(s));
  };
  const signOut = async () => {
    try { await del('/console/api/session', { quiet401: true }); } catch { /* ended anyway */ }
    setCsrfToken(null);
    setSession(null);
    setNotice('session.signedout');
    history.replaceState(null, '', location.pathname);
    setRoute(parseHash());
  };

  let body;
  if (session === undefined) body = <Loading />;
  else if (session === null) body = <SignIn onSignedIn={signedIn} notice={notice} lang={lang} setLang={setLang} />;
  else {
    const items = menuFor(session);
    if (!route.parts.length) {
      go(home(session));
      body = <Loading />;
    } else {
      const current = '/' + route.parts.slice(0, 2).join('/');
      body = (
        <div class={'shell' + (menuOpen ? ' menu-open' : '')}>
          <Header session={session} lang={lang} setLang={setLang} onSignOut={signOut} t={t}
            menuOpen={menuOpen} setMenuOpen={setMenuOpen} />
          <nav class="sidenav" data-test="nav" aria-label={t('nav.menu')}>
            {items.map(([href, key]) => (
              <a href={'#' + href} data-nav={href.split('/')[1]}
                class={current === href || ('/' + route.parts[0]) === href ? 'active' : ''}>{t(key)}</a>
            ))}
          </nav>
          <div class="drawer-scrim" onClick={() => setMenuOpen(false)} />
          <main class="content" data-page={route.parts[0]}>
            <Page route={route} session={session} />
            {!['overview', 'tenant', 'migrations', 'buckets', 'audit', 'policy'].includes(route.parts[0]) && (
              <ErrorBox error={{ status: 404, code: 'NotFound', message: t('err.nopage', { page: route.raw }) }} />
            )}
          </main>
        </div>
      );
    }
  }
  return <LangContext.Provider value={{ lang, t }}>{body}</LangContext.Provider>;
}

render(<App />, document.getElementById('app'));
