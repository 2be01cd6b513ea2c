// buckets.jsx - the tenant's buckets and an object browser: folders by prefix, upload with
// progress, download, delete (tenant roles). The page offers only what the role allows
// (nav.js canWriteObjects: a tenant reader browses and downloads); the API enforces it anyway.
import { useRef, useState } from 'preact/hooks';
import { del, enc, get, qs, uploadObject } from '../api.js';
import { useT } from '../i18n.js';
import { ErrorBox, Loading, Notice, Progress, SortTable, useAction, usePoll } from '../components.jsx';
import { bytes, num, pct, time } from '../format.js';
import { canWriteObjects, isTenantRole } from '../nav.js';

export function Buckets({ session }) {
  const t = useT();
  const b = usePoll(() => get('/admin/v1/buckets'), 0, []);
  const rows = (b.data && b.data.buckets) || [];
  const columns = [
    { key: 'name', label: t('bucket.name'), render: (x) => <a href={'#/buckets/' + enc(x.name)} data-test="bucket-link">{x.name}</a> },
    { key: 'bytes', label: t('col.bytes'), render: (x) => bytes(x.bytes) },
    { key: 'objects', label: t('col.objects'), render: (x) => num(x.objects) },
    { key: 'quota', label: t('bucket.quota'), cls: 'opt', sort: (x) => (x.quota && x.quota.max_bytes) || -1, render: (x) => (x.quota && x.quota.max_bytes >= 0 ? <Progress value={pct(x.bytes, x.quota.max_bytes)} label={bytes(x.bytes) + ' / ' + bytes(x.quota.max_bytes)} /> : t('quota.unlimited')) },
    { key: 'created', label: t('bucket.created'), cls: 'opt', render: (x) => time(x.created) },
  ];
  return (
    <section class="page">
      <div class="page-head"><h1>{t('nav.buckets')}</h1></div>
      {!isTenantRole(session) && <Notice kind="info">{t('bucket.platform_note')}</Notice>}
      <ErrorBox error={b.error} onRetry={b.reload} />
      <div class="card">
        {b.loading && !b.data ? <Loading /> : <SortTable columns={columns} rows={rows} rowKey={(x) => x.name} test="bucket-table" empty={t('bucket.none')} />}
      </div>
    </section>
  );
}

function Upload({ bucket, prefix, onDone }) {
  const t = useT();
  const input = useRef(null);
  const [state, setState] = useState(null); // {name, loaded, total}
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const start = async () => {
    const files = Array.from(input.current.files || []);
    if (!files.length) return;
    setError(null);
    setDone(null);
    for (const file of files) {
      const key = prefix + file.name;
      setState({ name: key, loaded: 0, total: file.size });
      try {
        await uploadObject(bucket, key, file, (loaded, total) => setState({ name: key, loaded, total }));
      } catch (e) {
        setError(e);
        setState(null);
        onDone();
        return;
      }
    }
    setState(null);
    setDone(files.length);
    input.current.value = '';
    onDone();
  };
  return (
    <div class="upload">
      <input type="file" multiple ref={input} data-test="upload-input" aria-label={t('bucket.upload')} />
      <button class="btn primary" data-test="upload-submit" disabled={!!state} onClick={start}>{t('bucket.upload')}</button>
      {state && <Progress value={pct(state.loaded, state.total)} label={t('bucket.uploading', { name: state.name, pct: pct(state.loaded, state.total).toFixed(0) })} test="upload-progress" />}
      {done && <Notice kind="ok">{t('bucket.uploaded', { n: done })}</Notice>}
      <ErrorBox error={error} />
    </div>
  );
}

export function BucketBrowser({ session, bucket, prefix }) {
  const t = useT();
  const canWrite = canWriteObjects(session);
  const [marker, setMarker] = useState('');
  const [markers, setMarkers] = useState([]); // previous pages' markers
  const act = useAction();
  const list = usePoll(() => get('/admin/v1/buckets/' + enc(bucket) + '/objects' + qs({ prefix, delimiter: '/', marker, max: 200 })), 0, [bucket, prefix, marker]);
  const d = list.data || { objects: [], prefixes: [] };
  const href = (p) => '#/buckets/' + enc(bucket) + (p ? '?prefix=' + enc(p) : '');
  const objUrl = (k) => '/admin/v1/buckets/' + enc(bucket) + '/object' + qs({ key: k });
  const remove = async (k) => {
    if (!window.confirm(t('bucket.delete.confirm', { key: k }))) return;
    if (await act.run(() => del(objUrl(k)))) list.reload();
  };
  const crumbs = [];
  let acc = '';
  for (const part of prefix.split('/').filter(Boolean)) {
    acc += part + '/';
    crumbs.push([part, acc]);
  }
  const rows = [
    ...(d.prefixes || []).map((p) => ({ dir: true, key: p })),
    ...(d.objects || []),
  ];
  const columns = [
    {
      key: 'key', label: t('bucket.key'),
      render: (o) => (o.dir
        ? <a href={href(o.key)} data-test="prefix-link" class="folder">{o.key.slice(prefix.length)}</a>
        : <span data-test="object-key">{o.key.slice(prefix.length)}</span>),
    },
    { key: 'size', label: t('col.bytes'), render: (o) => (o.dir ? '—' : bytes(o.size)) },
    { key: 'last_modified', label: t('bucket.modified'), cls: 'opt', render: (o) => (o.dir ? '—' : time(o.last_modified)) },
    {
      key: 'actions', label: '', nosort: true,
      render: (o) => !o.dir && (
        <span class="row-actions">
          <a class="btn small" href={objUrl(o.key)} download={o.key.split('/').pop()} data-test="download">{t('bucket.download')}</a>
          {canWrite && <button class="btn small danger" data-test="delete" onClick={() => remove(o.key)}>{t('action.delete')}</button>}
        </span>
      ),
    },
  ];
  return (
    <section class="page" data-test="bucket-page">
      <div class="page-head">
        <h1><a href="#/buckets">{t('nav.buckets')}</a> / <a href={href('')}>{bucket}</a>{crumbs.map(([name, p]) => <span> / <a href={href(p)}>{name}</a></span>)}</h1>
      </div>
      {canWrite ? (
        <div class="card">
          <Upload bucket={bucket} prefix={prefix} onDone={list.reload} />
        </div>
      ) : <Notice kind="info"><span data-test="bucket-readonly">{t('bucket.readonly', { role: t('role.' + session.role, null, session.role) })}</span></Notice>}
      <ErrorBox error={list.error || act.error} onRetry={list.reload} />
      <div class="card">
        {list.loading && !list.data ? <Loading /> : <SortTable columns={columns} rows={rows} rowKey={(o) => (o.dir ? 'd:' : 'o:') + o.key} test="object-table" empty={t('bucket.empty')} />}
        <div class="pager">
          {markers.length > 0 && <button class="btn small" onClick={() => { const m = [...markers]; const prev = m.pop(); setMarkers(m); setMarker(prev); }}>{t('common.prev')}</button>}
          {d.truncated && <button class="btn small" onClick={() => { setMarkers([...markers, marker]); setMarker(d.next_marker); }}>{t('common.next')}</button>}
        </div>
      </div>
      {canWrite && <p class="muted">{t('bucket.large_hint')}</p>}
    </section>
  );
}
