// format.js - numbers, sizes, dates and durations for display.

export function bytes(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '—';
  n = Number(n);
  if (n < 0) return '∞';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2)) + ' ' + units[i];
}

export function rate(bps) {
  if (!bps || bps <= 0) return '—';
  return bytes(bps) + '/s';
}

export function num(n) {
  if (n === null || n === undefined) return '—';
  return Number(n).toLocaleString('en-US');
}

export function pct(part, whole) {
  if (!whole || whole <= 0) return part > 0 ? 100 : 0;
  return Math.max(0, Math.min(100, (100 * part) / whole));
}

export function duration(s, t) {
  if (s === null || s === undefined || s < 0 || !Number.isFinite(Number(s))) return '—';
  s = Math.round(Number(s));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return t('dur.hm', { h, m });
  if (m > 0) return t('dur.ms', { m, s: sec });
  return t('dur.s', { s: sec });
}

/* ISO timestamp -> "YYYY-MM-DD HH:MM:SS" in the browser's zone; a plain date stays as is. */
export function time(iso) {
  if (!iso) return '—';
  if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) return iso;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = (x) => String(x).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' +
    p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
}

export function date(d) {
  if (!d) return '—';
  return String(d).slice(0, 10);
}

/* Days since 1970-01-01 of a civil date "YYYY-MM-DD" (UTC arithmetic, no zone surprises). */
export function epochDay(d) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(d || '');
  if (!m) return null;
  return Math.round(Date.UTC(+m[1], +m[2] - 1, +m[3]) / 86400000);
}

export function dayToDate(n) {
  return new Date(n * 86400000).toISOString().slice(0, 10);
}

/* Today's civil date in Asia/Shanghai (UTC+8, no DST), as the server computes it. */
export function todayShanghai() {
  return new Date(Date.now() + 8 * 3600000).toISOString().slice(0, 10);
}
