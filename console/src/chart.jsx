// chart.jsx - the deadline timeline drawn with chart.js: floating horizontal bars from today to
// each tenant's deadline, coloured by status, on an axis ticked at month or year starts. The
// canvas carries what it plots (data-series, data-ticks) for the browser tests.
import { useEffect, useRef } from 'preact/hooks';
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip,
} from 'chart.js';
import { dayToDate, epochDay } from './format.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip, Legend);

export const STATUS_COLORS = {
  'not-started': '#8a94a6',
  migrating: '#2f6fdf',
  'at-risk': '#e08a00',
  verified: '#2e9d5b',
  'cut-over': '#16735a',
  overdue: '#c62828',
  violation: '#8e24aa',
};

/* Axis ticks on the first day of a month, every 1, 2, 3, 6, 12, 24 or 60 months (whichever
 * gives at most 7), so the axis reads 2026-07, 2026-10, 2027-01... or 2026, 2027...; the
 * label shows the year alone when the step is a year or more. */
export function monthTicks(lo, hi) {
  const a = new Date(lo * 86400000), b = new Date(hi * 86400000);
  const first = a.getUTCFullYear() * 12 + a.getUTCMonth();
  const last = b.getUTCFullYear() * 12 + b.getUTCMonth();
  const step = [1, 2, 3, 6, 12, 24, 60].find((s) => (last - first) / s <= 7) || 120;
  const out = [];
  for (let k = Math.ceil(first / step) * step; k <= last; k += step) {
    const day = Math.round(Date.UTC(Math.floor(k / 12), k % 12, 1) / 86400000);
    if (day >= lo && day <= hi) out.push(day);
  }
  return { days: out, yearly: step >= 12 };
}

function tickLabel(day, yearly) {
  const d = dayToDate(day);
  return yearly ? d.slice(0, 4) : d.slice(0, 7);
}

/* Writes what the chart plots onto its canvas, for tests and tools: data-series (JSON
 * [[label, from, to]] with ISO dates, from the chart's own data) and data-ticks (the x
 * axis's tick dates). */
const exposeData = {
  id: 'gzyExposeData',
  afterRender(chart) {
    const ds = chart.data.datasets[0] || { data: [] };
    chart.canvas.dataset.series = JSON.stringify(chart.data.labels.map((l, i) => [
      l, dayToDate(ds.data[i][0]), dayToDate(ds.data[i][1])]));
    chart.canvas.dataset.ticks = JSON.stringify(chart.scales.x.ticks.map((tk) => dayToDate(tk.value)));
  },
};

function useChart(config, deps) {
  const canvas = useRef(null);
  const chart = useRef(null);
  useEffect(() => {
    if (!canvas.current) return undefined;
    chart.current = new Chart(canvas.current, config());
    return () => { chart.current.destroy(); chart.current = null; };
  }, deps);
  return canvas;
}

/* rows: status rows with deadline; asOf: "YYYY-MM-DD". */
export function DeadlineTimeline({ rows, asOf, t }) {
  const withDeadline = rows.filter((r) => r.deadline);
  const today = epochDay(asOf) || Math.floor(Date.now() / 86400000);
  const days = withDeadline.map((r) => epochDay(r.deadline)).concat([today]);
  const lo = Math.min(...days), hi = Math.max(...days);
  const pad = Math.max(15, Math.round((hi - lo) * 0.04));
  const ticks = monthTicks(lo - pad, hi + pad);
  const canvas = useChart(() => ({
    type: 'bar',
    plugins: [exposeData],
    data: {
      labels: withDeadline.map((r) => r.tenant),
      datasets: [{
        label: t('overview.chart.window'),
        data: withDeadline.map((r) => {
          const d = epochDay(r.deadline);
          return d >= today ? [today, d] : [d, today];
        }),
        backgroundColor: withDeadline.map((r) => STATUS_COLORS[r.status] || '#888'),
        borderSkipped: false,
        borderRadius: 3,
      }],
    },
    options: {
      indexAxis: 'y',
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            label: (ctx) => {
              const r = withDeadline[ctx.dataIndex];
              return t('overview.chart.tip', {
                deadline: r.deadline, days: r.days_left, status: t('status.' + r.status, null, r.status),
              });
            },
          },
        },
      },
      scales: {
        x: {
          type: 'linear',
          beginAtZero: false,
          min: lo - pad,
          max: hi + pad,
          afterBuildTicks: (axis) => { axis.ticks = ticks.days.map((value) => ({ value })); },
          ticks: { callback: (v) => tickLabel(Math.round(v), ticks.yearly), maxRotation: 0, autoSkip: true, autoSkipPadding: 8 },
          title: { display: true, text: t('overview.chart.axis', { today: asOf || '' }) },
        },
        y: { ticks: { autoSkip: false } },
      },
    },
  }), [JSON.stringify(withDeadline.map((r) => [r.tenant, r.deadline, r.status])), asOf, t]);
  if (!withDeadline.length) return <p class="muted" data-test="timeline-empty">{t('overview.chart.none')}</p>;
  return (
    <div class="chart-box" style={{ height: 60 + 30 * withDeadline.length + 'px' }} data-test="timeline">
      <canvas ref={canvas} role="img" aria-label={t('overview.timeline')} />
    </div>
  );
}
