// chart.jsx - the deadline timeline drawn with chart.js: floating horizontal bars from today to
// each tenant's deadline, coloured by status.
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
  const canvas = useChart(() => ({
    type: 'bar',
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
          ticks: { callback: (v) => dayToDate(Math.round(v)), maxRotation: 0, autoSkip: true, maxTicksLimit: 6 },
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
