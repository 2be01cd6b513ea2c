// api.js - same-origin calls to /console/api/* and /admin/v1/* with the session cookie.
// Every non-GET request carries X-CSRF-Token (the token from the sign-in answer). Errors
// become ApiError with the HTTP status, the API's code and its message.

let csrfToken = null;
let onUnauthorized = null;

export function setCsrfToken(token) {
  csrfToken = token || null;
}

/* fn() is called when a signed-in call answers 401 (the session ended). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || 'HTTP ' + status);
    this.status = status;
    this.code = code || 'HTTP' + status;
  }
}

/* Both error shapes: admin {"error":{"code","message"}} and console {"error","message"}. */
function errorFrom(status, body, text) {
  if (body && typeof body === 'object') {
    const e = body.error;
    if (e && typeof e === 'object') return new ApiError(status, e.code, e.message);
    if (typeof e === 'string') return new ApiError(status, e, body.message);
    if (body.message) return new ApiError(status, null, body.message);
  }
  const snippet = (text || '').replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200);
  return new ApiError(status, null, snippet || 'HTTP ' + status);
}

function headersFor(method, extra) {
  const h = { Accept: 'application/json', ...(extra || {}) };
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) h['X-CSRF-Token'] = csrfToken;
  return h;
}

export async function api(method, path, body, { quiet401 = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: headersFor(method) };
  if (body !== undefined && body !== null) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'NetworkError', String(e && e.message ? e.message : e));
  }
  const text = r.status === 204 ? '' : await r.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch { json = null; }
  }
  if (!r.ok) {
    const err = errorFrom(r.status, json, text);
    if (r.status === 401 && !quiet401 && onUnauthorized) onUnauthorized(err);
    throw err;
  }
  return json;
}

export const get = (p, o) => api('GET', p, undefined, o);
export const post = (p, b, o) => api('POST', p, b === undefined ? {} : b, o);
export const put = (p, b, o) => api('PUT', p, b, o);
export const del = (p, o) => api('DELETE', p, undefined, o);

/* Query string from an object, skipping empty values. */
export function qs(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(v)));
  }
  return parts.length ? '?' + parts.join('&') : '';
}

export const enc = encodeURIComponent;

/* PUT of a file with upload progress (fetch has no upload progress). onProgress(loaded,
 * total). Resolves with the parsed answer, rejects with ApiError. */
export function uploadObject(bucket, key, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', '/admin/v1/buckets/' + enc(bucket) + '/object' + qs({ key }));
    xhr.withCredentials = true;
    const h = headersFor('PUT', { 'Content-Type': file.type || 'application/octet-stream' });
    for (const [k, v] of Object.entries(h)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress && onProgress(e.loaded, e.total || file.size);
    xhr.onload = () => {
      let json = null;
      try { json = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { json = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(json);
      else {
        const err = errorFrom(xhr.status, json, xhr.responseText);
        if (xhr.status === 401 && onUnauthorized) onUnauthorized(err);
        reject(err);
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'NetworkError', 'upload failed (network)'));
    xhr.onabort = () => reject(new ApiError(0, 'Aborted', 'upload cancelled'));
    xhr.send(file);
  });
}

/* Offers text as a file download (audit export, reports). */
export function saveText(filename, text, type) {
  const blob = new Blob([text], { type: type || 'application/octet-stream' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
