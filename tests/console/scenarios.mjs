// scenarios.mjs - the console's browser scenarios. Each takes {page, context} from lib.mjs's
// openBrowser and throws on a failed check. The data they expect (users, tenants, the
// moto_server source, the report to compare with) comes from GZY_CONSOLE_CONFIG and
// GZY_CONSOLE_REPORT, prepared by tests/integration/test_console.py.
import {
  closeSync, copyFileSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  artifactPath, check, checkEq, config, expectAttr, expectCount, expectFn, expectText, gotoConsole,
  log, pageFetch, shoot, signIn, signOut, text, until, WIDTHS,
} from './lib.mjs';
// The console's own formatting and dictionaries: what the pages must display.
import * as fmt from '../../console/src/format.js';
import { zh } from '../../console/src/i18n-zh.js';
import { en } from '../../console/src/i18n-en.js';

const DICTS = { 'zh-CN': zh, en };

const T = () => config.tenants;

async function waitHash(page, re, what) {
  await until(async () => re.test(await page.evaluate(() => location.hash)), 10000, what);
}

async function navTargets(page) {
  return page.$$eval('nav [data-nav]', (els) => els.map((e) => e.getAttribute('data-nav')));
}

/* Sign-in in Chinese by default, a wrong secret explained, the language switch (kept across a
 * reload), and the header in both languages. */
async function signinLanguage({ page }) {
  await gotoConsole(page);
  await page.locator('[data-test=signin-form]').waitFor();
  await expectFn(() => page.evaluate(() => document.documentElement.lang), 'zh-CN', 'default language');
  await expectText(page, '[data-test=signin-submit]', '登录', 'sign-in button (zh-CN)');
  await shoot(page, 'signin');

  log('wrong secret key');
  await page.fill('input[name=access_key]', config.users.supervisor.ak);
  await page.fill('input[name=secret_key]', 'not-the-secret');
  await page.click('[data-test=signin-submit]');
  const err = await text(page, '[data-test=error]');
  check(err.includes('InvalidCredentials'), 'the error names InvalidCredentials: ' + err);
  check(err.includes('401'), 'the error gives the HTTP status: ' + err);
  check(/重新登录|密钥/.test(err), 'the error says what to do (in Chinese): ' + err);

  log('switch to English, reload');
  await page.selectOption('[data-test=lang]', 'en');
  await expectText(page, '[data-test=signin-submit]', 'Sign in', 'sign-in button (en)');
  await page.reload();
  await page.locator('[data-test=signin-form]').waitFor();
  await expectText(page, '[data-test=signin-submit]', 'Sign in', 'English kept after reload');
  await expectFn(() => page.evaluate(() => document.documentElement.lang), 'en', 'html lang after switch');

  log('sign in as the supervisor');
  await page.fill('input[name=access_key]', config.users.supervisor.ak);
  await page.fill('input[name=secret_key]', config.users.supervisor.sk);
  await page.click('[data-test=signin-submit]');
  await page.locator('[data-test=who-user]').waitFor();
  checkEq(await text(page, '[data-test=who-user]'), config.users.supervisor.user, 'header user');
  checkEq(await text(page, '[data-test=who-role]'), 'Supervisor', 'header role (en)');
  checkEq(await text(page, '[data-test=who-tenant]'), 'platform', 'header tenant');
  await waitHash(page, /^#\/overview/, 'the supervisor lands on the overview');
  checkEq(await text(page, 'nav [data-nav=overview]'), 'Overview', 'menu (en)');
  checkEq(await text(page, '[data-test=signout]'), 'Sign out', 'sign-out button (en)');

  log('back to Chinese');
  await page.selectOption('header [data-test=lang]', 'zh-CN');
  await expectText(page, 'nav [data-nav=overview]', '总览', 'menu (zh-CN)');
  await expectText(page, '[data-test=who-role]', '监管人员', 'header role (zh-CN)');
  await expectText(page, '[data-test=signout]', '退出登录', 'sign-out button (zh-CN)');
  const navs = await navTargets(page);
  for (const n of ['overview', 'migrations', 'audit', 'policy']) check(navs.includes(n), 'supervisor menu has ' + n + ': ' + navs);
  check(!navs.includes('buckets'), 'supervisor menu has no buckets (no object data): ' + navs);
}

/* POST through the page's session (with its CSRF token); returns {status, body}. */
async function pagePost(page, url, body) {
  const sess = (await pageFetch(page, '/console/api/session')).body;
  return pageFetch(page, url, {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': sess.csrf_token },
    body: JSON.stringify(body),
  });
}

/* A platform admin adds a tenant and contracts (renewal, notes, a linked migration job) and
 * sees the computed deadlines. */
async function tenantContract({ page }) {
  const nt = config.new_tenant;
  await signIn(page, 'root');
  await waitHash(page, /^#\/overview/, 'overview');
  log('add tenant ' + nt.name);
  await page.click('[data-test=add-tenant-open]');
  const dlg = page.locator('[data-test=add-tenant]');
  await dlg.locator('input[name=name]').fill(nt.name);
  await dlg.locator('input[name=uscc]').fill('12345');
  await dlg.locator('[data-test=add-tenant-submit]').click();
  const err = await text(page, '[data-test=add-tenant] [data-test=error]');
  check(err.includes('InvalidUSCC'), 'a wrong USCC is explained: ' + err);
  await dlg.locator('input[name=uscc]').fill(nt.uscc);
  await dlg.locator('input[name=contact]').fill('张三 022-12345678');
  await shoot(page, 'tenant-add-dialog');
  await dlg.locator('[data-test=add-tenant-submit]').click();
  await page.locator(`[data-test=tenant-page][data-tenant="${nt.name}"]`).waitFor();

  log('a migration job of the new tenant (API, not started), to link a contract to');
  const m = config.moto;
  const jobName = 'xq-legacy';
  const cj = await pagePost(page, '/admin/v1/migrations', {
    tenant: nt.name, name: jobName, dest_bucket: m.dest_bucket + '-xq', start: false,
    source: { provider: 'generic', endpoint: m.endpoint, region: 'us-east-1', bucket: m.bucket, access_key: m.ak, secret_key: m.sk },
  });
  check(cj.status === 200 || cj.status === 201, 'job created: ' + JSON.stringify(cj));
  const jobId = cj.body.id;

  log('contract: expiry 2021-12-31 -> deadline 2022-02-28 (end-of-month clamp); renewed, notes, the job linked');
  const notes = '旧合同 legacy: 盘点后迁移';
  await page.click('[data-test=contract-add]');
  let form = page.locator('[data-test=contract-form]');
  await form.locator('select[name=provider]').selectOption('huawei');
  await form.locator('input[name=services]').fill('OBS, ECS');
  await form.locator('input[name=buckets]').fill('legacy-data');
  await form.locator('input[name=signed]').fill('2020-06-01');
  await form.locator('input[name=expiry]').fill('2021-12-31');
  await form.locator('input[name=renewed]').check();
  await form.locator('input[name=renewed_date]').fill('2021-01-10'); // before the notice date
  await form.locator('textarea[name=notes]').fill(notes);
  await form.locator(`input[name=jobs][value="${jobId}"]`).check();
  await shoot(page, 'contract-dialog');
  await form.locator('[data-test=contract-submit]').click();
  await page.locator('[data-test=contract-form]').waitFor({ state: 'detached' });
  await until(async () => (await page.locator('[data-test=contract-deadline]').allInnerTexts()).includes('2022-02-28'), 5000, 'deadline 2022-02-28 in the contract table');
  const linkedSel = '[data-test=contract-table] tbody tr:has([data-test=contract-deadline]:text-is("2022-02-28"))';
  await expectText(page, `${linkedSel} [data-test=contract-job][data-job="${jobId}"]`, jobName, 'the contract shows its linked job by name');
  await expectText(page, `${linkedSel} [data-test=contract-notes]`, notes, 'the contract\'s notes');
  await expectText(page, `${linkedSel} [data-test=contract-renewed]`, '2021-01-10', 'the renewal date');
  const api = (await pageFetch(page, '/admin/v1/contracts?tenant=' + encodeURIComponent(nt.name))).body.contracts;
  const saved = api.find((c) => c.deadline === '2022-02-28');
  check(saved, 'the contract in the API: ' + JSON.stringify(api));
  checkEq(JSON.stringify(saved.jobs), JSON.stringify([jobId]), 'the API has the linked job');
  checkEq(saved.notes, notes, 'the API has the notes');
  checkEq(`${saved.renewed} ${saved.renewed_date}`, 'true 2021-01-10', 'the API has the renewal');
  await until(async () => (await text(page, '[data-test=tenant-deadline]')) === '2022-02-28', 15000, 'the tenant deadline 2022-02-28');
  await until(async () => (await page.getAttribute('[data-test=tenant-status-badge]', 'data-status')) === 'overdue', 15000, 'status overdue');

  log('contract signed after the notice date: violation; deadline 2027-12-31 + 2 = 2028-02-29');
  await page.click('[data-test=contract-add]');
  form = page.locator('[data-test=contract-form]');
  await form.locator('select[name=provider]').selectOption('aliyun');
  await form.locator('input[name=signed]').fill('2021-09-01');
  await form.locator('input[name=expiry]').fill('2027-12-31');
  await form.locator('[data-test=contract-submit]').click();
  await page.locator('[data-test=contract-form]').waitFor({ state: 'detached' });
  await until(async () => (await page.locator('[data-test=contract-deadline]').allInnerTexts()).includes('2028-02-29'), 5000, 'deadline 2028-02-29');
  await expectCount(page, '[data-test=contract-violation]', 1, 'one contract marked as a violation');
  await expectText(page, `[data-test=contract-table] tbody tr:has([data-test=contract-deadline]:text-is("2028-02-29")) [data-test=contract-renewed]`, zh['contract.not_renewed'], 'not renewed');
  await until(async () => (await page.getAttribute('[data-test=tenant-status-badge]', 'data-status')) === 'violation', 15000, 'status violation');
  await expectText(page, '[data-test=tenant-deadline]', '2022-02-28', 'the tenant deadline is the earliest open contract');
  await shoot(page, 'tenant-new');

  log('close the first contract: the deadline becomes the open one\'s');
  const first = page.locator('[data-test=contract-table] tbody tr', { has: page.locator('[data-test=contract-deadline]:text-is("2022-02-28")') });
  await first.locator('button', { hasText: '终止合同' }).click();
  await page.locator('[data-test=contract-close] input[name=date]').fill('2022-01-20');
  await page.click('[data-test=contract-close-submit]');
  await page.locator('[data-test=contract-close]').waitFor({ state: 'detached' });
  await until(async () => (await page.locator('[data-test=contract-table]').innerText()).includes('2022-01-20'), 5000, 'closed date shown');
  await until(async () => (await text(page, '[data-test=tenant-deadline]')) === '2028-02-29', 15000, 'the deadline of the remaining open contract');

  log('edit the open contract: expiry 2028-01-31 -> deadline 2028-03-31');
  const open = page.locator('[data-test=contract-table] tbody tr', { has: page.locator('[data-test=contract-deadline]:text-is("2028-02-29")') });
  await open.locator('button', { hasText: '编辑' }).click();
  form = page.locator('[data-test=contract-form]');
  checkEq(await form.locator('input[name=expiry]').inputValue(), '2027-12-31', 'the edit form holds the contract');
  check(!(await form.locator(`input[name=jobs][value="${jobId}"]`).isChecked()), 'the job is not linked to this contract');
  await form.locator('input[name=expiry]').fill('2028-01-31');
  await form.locator('[data-test=contract-submit]').click();
  await page.locator('[data-test=contract-form]').waitFor({ state: 'detached' });
  await until(async () => (await text(page, '[data-test=tenant-deadline]')) === '2028-03-31', 15000, 'the deadline after the edit');

  log('edit the closed contract: its linked job, notes and renewal are kept');
  const closed = page.locator(linkedSel);
  await closed.locator('button', { hasText: '编辑' }).click();
  form = page.locator('[data-test=contract-form]');
  await expectFn(() => form.locator(`input[name=jobs][value="${jobId}"]`).isChecked(), true, 'the edit form has the job checked');
  checkEq(await form.locator('textarea[name=notes]').inputValue(), notes, 'the edit form holds the notes');
  await form.locator('[data-test=contract-submit]').click();
  await page.locator('[data-test=contract-form]').waitFor({ state: 'detached' });
  const again = (await pageFetch(page, '/admin/v1/contracts?tenant=' + encodeURIComponent(nt.name))).body.contracts.find((c) => c.id === saved.id);
  checkEq(JSON.stringify(again.jobs), JSON.stringify([jobId]), 'the link survives an edit');
}

async function jobState(page) {
  return page.getAttribute('[data-test=job-page]', 'data-state');
}

/* A tenant admin creates a migration from moto_server and watches it to completed/verified. */
async function migration({ page }) {
  const m = config.moto;
  await signIn(page, 'admin_a');
  await waitHash(page, new RegExp('^#/tenant/' + T().a), 'the tenant admin lands on the tenant page');
  await page.click('nav [data-nav=migrations]');
  await page.click('[data-test=job-create-open]');
  const f = page.locator('[data-test=job-form]');
  checkEq(await f.locator('input[name=tenant]').inputValue(), T().a, 'the job is for the own tenant');
  await f.locator('input[name=name]').fill('moto-e2e');
  await f.locator('select[name=provider]').selectOption('generic');
  await f.locator('input[name=endpoint]').fill(m.endpoint);
  await f.locator('input[name=region]').fill('us-east-1');
  await f.locator('input[name=bucket]').fill(m.bucket);
  await f.locator('input[name=access_key]').fill(m.ak);
  await f.locator('input[name=secret_key]').fill(m.sk);
  await f.locator('input[name=dest_bucket]').fill(m.dest_bucket);
  await f.locator('input[name=concurrency]').fill('4');
  await shoot(page, 'migration-create');
  await f.locator('[data-test=job-submit]').click();
  await page.locator('[data-test=job-page]').waitFor();
  log('job created; following it');
  const seen = new Set();
  let shotRunning = false;
  const final = await until(async () => {
    const s = await jobState(page);
    seen.add(s);
    if (s === 'running' && !shotRunning) { shotRunning = true; await shoot(page, 'migration-running'); }
    return ['completed', 'failed', 'cancelled'].includes(s) ? s : null;
  }, 120000, 'the job to finish');
  log('states seen: ' + [...seen].join(' -> '));
  checkEq(final, 'completed', 'the job state');
  await until(async () => (await text(page, '[data-test=job-verified]')) === String(m.objects), 5000, `verified ${m.objects}`);
  checkEq(await text(page, '[data-test=job-failed-count]'), '0', 'failed objects');
  const label = await text(page, '[data-test=job-progress]');
  check(label.includes(`${m.objects} / ${m.objects}`), 'progress shows all objects: ' + label);
  // a finished pass has no current rate or ETA, whatever its last numbers in the API
  const jobId = await page.getAttribute('[data-test=job-page]', 'data-job');
  const apiJob = (await pageFetch(page, '/admin/v1/migrations/' + jobId)).body;
  log(`the API's rate_bps of the completed job: ${apiJob.rate_bps}`);
  await expectText(page, '[data-test=job-rate]', '—', 'no rate on the page of a completed job');
  await expectText(page, '[data-test=job-eta]', '—', 'no ETA on the page of a completed job');
  await shoot(page, 'migration-done');
  await page.goto(config.base + '/console/#/migrations');
  await expectText(page, `[data-test=job-table] tbody tr[data-row="${jobId}"] td[data-col=rate_bps]`, '—', 'no rate in the migrations list for a completed job');

  log('tenant page: verified');
  await page.goto(config.base + '/console/#/tenant/' + T().a);
  await until(async () => (await page.getAttribute('[data-test=tenant-status-badge]', 'data-status').catch(() => null)) === 'verified', 30000, 'tenant status verified');
  // the jobs table loads in its own poll: wait for the job's row, not just for the badge
  const jobRow = `[data-test=tenant-jobs] tbody tr[data-row="${jobId}"]`;
  await expectAttr(page, `${jobRow} td[data-col=state] [data-state]`, 'data-state', 'completed', 'the tenant page lists the job, completed', 15000);
  await expectText(page, `${jobRow} td[data-col=rate_bps]`, '—', 'no rate for the completed job on the tenant page');
  await expectText(page, `${jobRow} td[data-col=eta_s]`, '—', 'no ETA for the completed job on the tenant page');
  await shoot(page, 'tenant-verified');
}

function report() {
  const raw = process.env.GZY_CONSOLE_REPORT;
  check(raw, 'GZY_CONSOLE_REPORT (gzy report --json) not given');
  return JSON.parse(raw);
}

/* What the page shows for a value of the report: the console's own formatting (format.js,
 * the functions the pages use); null (unknown) must not be shown as a number. */
function checkShown(got, raw, want, what) {
  if (raw === null || raw === undefined) {
    check(!/\d/.test(got), `${what}: unknown (null) in the report, but the page shows ${JSON.stringify(got)}`);
  } else {
    checkEq(got, want, `${what} (report: ${JSON.stringify(raw)})`);
  }
}

async function cellText(row, col) {
  return (await row.locator(`td[data-col=${col}]`).textContent()).trim();
}

/* Checks that the overview shows the status document rep (totals and every column of every
 * tenant, as displayed text); returns how many tenants have a rate and a projected finish. */
async function checkOverviewShows(page, rep) {
  await page.locator('[data-test=total-tenants]').waitFor();
  const tot = rep.totals;
  const total = async (t) => (await page.locator(`[data-test=${t}] .total-value`).textContent()).trim();
  checkShown(await total('total-tenants'), tot.tenants, fmt.num(tot.tenants), 'total tenants');
  const moved = (await total('total-moved')).split(' / ');
  checkEq(moved.length, 2, 'total moved is "moved / total"');
  checkShown(moved[0], tot.bytes_moved, fmt.bytes(tot.bytes_moved), 'total bytes moved');
  checkShown(moved[1], tot.bytes_total, fmt.bytes(tot.bytes_total), 'total bytes');
  checkShown(await total('total-at-risk'), tot.at_risk, fmt.num(tot.at_risk), 'total at risk');
  checkShown(await total('total-overdue'), tot.overdue, fmt.num(tot.overdue), 'total overdue');
  checkShown(await total('total-violations'), tot.violations, fmt.num(tot.violations), 'total violations');
  checkShown(await total('total-past-deadline'), tot.past_deadline, fmt.num(tot.past_deadline), 'total past deadline');
  const verified = (await total('total-verified')).split(' / ');
  checkEq(verified.length, 2, 'total verified is "verified / total"');
  checkShown(verified[0], tot.bytes_verified, fmt.bytes(tot.bytes_verified), 'total bytes verified');
  checkShown(verified[1], tot.bytes_total, fmt.bytes(tot.bytes_total), 'total bytes (verified card)');
  checkEq(await page.locator('[data-test=tenant-table] tbody tr').count(), rep.tenants.length, 'table rows');
  const zh = DICTS['zh-CN'];
  const seen = { rate: 0, projected: 0 };
  for (const r of rep.tenants) {
    const row = page.locator(`[data-test=tenant-table] tbody tr[data-row="${r.tenant}"]`);
    const w = (c) => `${c} of ${r.tenant}`;
    checkEq(await cellText(row, 'tenant'), r.tenant, w('name'));
    checkEq(await row.locator('[data-status]').getAttribute('data-status'), r.status, w('status'));
    checkEq(await cellText(row, 'status'), zh['status.' + r.status], w('status text'));
    checkEq(await cellText(row, 'deadline'), r.deadline || '—', w('deadline'));
    checkShown(await cellText(row, 'days_left'), r.days_left, fmt.num(r.days_left), w('days left'));
    const mv = (await cellText(row, 'moved')).split(' / ');
    checkEq(mv.length, 2, w('moved is "moved / total"'));
    checkShown(mv[0], r.bytes_moved, fmt.bytes(r.bytes_moved), w('bytes moved'));
    checkShown(mv[1], r.bytes_total, fmt.bytes(r.bytes_total), w('bytes total'));
    checkShown(await cellText(row, 'bytes_verified'), r.bytes_verified, fmt.bytes(r.bytes_verified), w('bytes verified'));
    checkEq(await cellText(row, 'rate_bps'), fmt.rate(r.rate_bps), w('rate'));
    checkShown(await cellText(row, 'projected_finish'), r.projected_finish, fmt.time(r.projected_finish), w('projected finish'));
    checkShown(await cellText(row, 'contracts'), r.contracts, fmt.num(r.contracts), w('contracts'));
    if (r.rate_bps > 0) seen.rate++;
    if (r.projected_finish) seen.projected++;
  }
  return seen;
}

/* The overview shows `gzy report --json` (taken while every job is stopped): every total and
 * every column of every tenant; the timeline plots every tenant with a deadline; filter,
 * sort. */
async function overview({ page }) {
  const rep = report();
  await signIn(page, 'supervisor');
  await waitHash(page, /^#\/overview/, 'overview');
  const seen = await checkOverviewShows(page, rep);
  // the data prepared for this test has a projection (else the check compares dashes)
  check(seen.projected > 0, 'a tenant with a projected finish in the report');
  checkEq(await page.locator('[data-test=add-tenant-open]').count(), 0, 'a supervisor cannot add tenants');

  log('at risk: the fixture\'s tenant whose deadline is days away with nothing moved');
  const ar = rep.tenants.find((r) => r.tenant === T().at_risk);
  checkEq(ar && ar.status, 'at-risk', `the report's status of ${T().at_risk}`);
  const atRisk = rep.tenants.filter((r) => r.status === 'at-risk').length;
  checkEq(rep.totals.at_risk, atRisk, 'the report\'s at-risk total counts its at-risk tenants');
  check(atRisk > 0, 'a non-zero at-risk count to compare');
  await expectText(page, '[data-test=total-at-risk] .total-value', fmt.num(atRisk), 'the at-risk total');
  const arRow = `[data-test=tenant-table] tbody tr[data-row="${T().at_risk}"]`;
  await expectAttr(page, `${arRow} [data-status]`, 'data-status', 'at-risk', 'the at-risk tenant\'s badge');
  await expectText(page, `${arRow} td[data-col=status]`, zh['status.at-risk'], 'the at-risk badge text');
  await expectText(page, `${arRow} td[data-col=deadline]`, ar.deadline, 'the at-risk tenant\'s deadline');

  log('timeline: one bar per tenant with a deadline, from today to it; month/year ticks');
  const canvas = page.locator('[data-test=timeline] canvas');
  await until(async () => (await canvas.getAttribute('data-series')) !== null, 5000, 'the chart drawn');
  const series = JSON.parse(await canvas.getAttribute('data-series'));
  const dated = rep.tenants.filter((r) => r.deadline);
  checkEq(JSON.stringify(series.map((x) => x[0]).sort()), JSON.stringify(dated.map((r) => r.tenant).sort()), 'tenants plotted');
  for (const [name, from, to] of series) {
    const r = dated.find((x) => x.tenant === name);
    const want = [rep.as_of, r.deadline].sort();
    checkEq(JSON.stringify([from, to]), JSON.stringify(want), `bar of ${name} (today ${rep.as_of}, deadline ${r.deadline})`);
  }
  const ticks = JSON.parse(await canvas.getAttribute('data-ticks'));
  check(ticks.length >= 2 && ticks.length <= 8, 'between 2 and 8 ticks: ' + ticks);
  check(ticks.every((d) => d.endsWith('-01')), 'ticks on the first of a month: ' + ticks);
  const months = ticks.map((d) => Number(d.slice(0, 4)) * 12 + Number(d.slice(5, 7)));
  const steps = new Set(months.slice(1).map((m, i) => m - months[i]));
  checkEq(steps.size, 1, 'ticks evenly spaced in months: ' + ticks);

  log('filter and sort');
  const rowsSel = '[data-test=tenant-table] tbody tr[data-row]';
  await page.fill('[data-test=tenant-filter]', T().a);
  await expectFn(() => page.locator(rowsSel).evaluateAll((trs) => trs.map((r) => r.getAttribute('data-row')).join(',')), T().a, 'rows after filtering by name');
  await page.fill('[data-test=tenant-filter]', '');
  await expectCount(page, rowsSel, rep.tenants.length, 'rows after clearing the name filter');
  for (const st of ['violation', 'at-risk']) {
    await page.selectOption('[data-test=status-filter]', st);
    const want = rep.tenants.filter((r) => r.status === st).map((r) => r.tenant).sort().join(',');
    await expectFn(async () => (await page.locator(rowsSel).evaluateAll((trs) => trs.map((r) => r.getAttribute('data-row')))).sort().join(','), want, 'rows after filtering by status ' + st);
  }
  await page.selectOption('[data-test=status-filter]', '');
  await expectCount(page, rowsSel, rep.tenants.length, 'rows after clearing the status filter');
  const order = () => page.locator(rowsSel).evaluateAll((rows) => rows.map((r) => r.getAttribute('data-row')));
  const sortedNames = rep.tenants.map((r) => r.tenant).sort((a, b) => a.localeCompare(b));
  await page.click('[data-test=tenant-table] th[data-col=tenant] button');
  await expectAttr(page, '[data-test=tenant-table] th[data-col=tenant]', 'aria-sort', 'ascending', 'sorted by tenant');
  await expectFn(async () => JSON.stringify(await order()), JSON.stringify(sortedNames), 'ascending order');
  await page.click('[data-test=tenant-table] th[data-col=tenant] button');
  await expectAttr(page, '[data-test=tenant-table] th[data-col=tenant]', 'aria-sort', 'descending', 'sorted descending');
  await expectFn(async () => JSON.stringify(await order()), JSON.stringify([...sortedNames].reverse()), 'descending order');
  await shoot(page, 'overview');
}

/* With a job running, the overview shows the status document it last fetched, rate
 * included (the numbers move, so the page is compared with its own latest answer; the
 * wrapper checked that answer's source against `gzy report`). */
async function overviewLive({ page }) {
  let latest = null, answers = 0;
  page.on('response', async (r) => {
    if (new URL(r.url()).pathname !== '/admin/v1/status' || r.status() !== 200) return;
    try {
      const doc = await r.json();
      latest = doc;
      answers++;
      log(`status answer ${answers}: rates ${doc.tenants.map((x) => x.rate_bps).join(',')}`);
    } catch { /* page gone */ }
  });
  await signIn(page, 'supervisor');
  await waitHash(page, /^#\/overview/, 'overview');
  let seen = null;
  await until(async () => {
    if (!latest) return false;
    const n = answers, doc = latest;
    await page.waitForTimeout(300); // rendered
    try {
      seen = await checkOverviewShows(page, doc);
    } catch (e) {
      if (answers !== n) return false; // a newer answer arrived meanwhile: compare again
      throw e;
    }
    if (answers === n && seen.rate > 0) return true;
    if (answers === n) { // not yet (the job copies its next object): ask again now
      await page.reload();
      await page.locator('[data-test=total-tenants]').waitFor();
      await until(async () => answers > n, 10000, 'the status answer after a reload');
    }
    return false;
  }, 40000, 'the overview to show a running job\'s rate');
  log(`rates shown: ${seen.rate}, projections: ${seen.projected}`);
  await shoot(page, 'overview-live');
}

/* A tenant admin sees only its tenant: menu, pages, direct URLs and the API behind them. */
async function isolation({ page }) {
  await signIn(page, 'admin_a');
  await waitHash(page, new RegExp('^#/tenant/' + T().a), 'own tenant page');
  await page.locator(`[data-test=tenant-page][data-tenant="${T().a}"]`).waitFor();
  const navs = await navTargets(page);
  for (const n of ['overview', 'audit', 'policy']) check(!navs.includes(n), `a tenant admin has no ${n} in the menu: ${navs}`);
  check(navs.includes('buckets') && navs.includes('migrations'), 'tenant admin menu: ' + navs);

  log('direct URL to the other tenant');
  await page.goto(config.base + '/console/#/tenant/' + encodeURIComponent(T().b));
  await page.locator('[data-test=tenant-denied]').waitFor();
  checkEq(await page.locator('[data-test=tenant-page]').count(), 0, 'no tenant page for the other tenant');
  await shoot(page, 'tenant-denied');
  await page.goto(config.base + '/console/#/overview');
  await expectText(page, 'main[data-page=overview] [data-test=error]', (e) => /AccessDenied/.test(e || ''), 'overview denied');

  log('the API refuses too');
  for (const url of [
    '/admin/v1/tenants/' + T().b, '/admin/v1/status?tenant=' + T().b,
    '/admin/v1/contracts?tenant=' + T().b, '/admin/v1/migrations?tenant=' + T().b,
    '/admin/v1/buckets/' + config.bucket_b + '/objects',
    '/admin/v1/migrations/' + config.job_b_id + '/manifests',
    '/admin/v1/migrations/' + config.job_b_id + '/manifests/1',
  ]) {
    const r = await pageFetch(page, url);
    checkEq(r.status, 403, 'GET ' + url + ' ' + JSON.stringify(r.body).slice(0, 200));
  }
  const own = await pageFetch(page, '/admin/v1/status');
  checkEq(own.status, 200, 'own status');
  check(own.body.tenants.every((r) => r.tenant === T().a), 'status lists only the own tenant: ' + JSON.stringify(own.body.tenants.map((r) => r.tenant)));

  log('lists show only the own tenant');
  await page.goto(config.base + '/console/#/buckets');
  await page.locator('[data-test=bucket-table]').waitFor();
  const buckets = await page.locator('[data-test=bucket-link]').allInnerTexts();
  check(buckets.includes(config.bucket_a) && !buckets.includes(config.bucket_b), 'buckets listed: ' + buckets);
  await page.goto(config.base + '/console/#/buckets/' + config.bucket_b);
  await expectText(page, '[data-test=bucket-page] [data-test=error]', (e) => /AccessDenied/.test(e || ''), 'the other tenant\'s bucket is denied');
  await page.goto(config.base + '/console/#/migrations');
  await page.locator('[data-test=job-table]').waitFor();
  const tenantsInJobs = await page.locator('[data-test=job-table] td[data-col=tenant_name]').allInnerTexts();
  check(tenantsInJobs.every((x) => x.trim() === T().a), 'jobs listed are the own tenant\'s: ' + tenantsInJobs);
  check(!(await page.locator('body').innerText()).includes(config.job_b_name), 'the other tenant\'s job is not shown');
}

/* Browse, upload (progress), download, delete. */
async function buckets({ page }) {
  await signIn(page, 'admin_a');
  await page.goto(config.base + '/console/#/buckets');
  await page.click(`[data-test=bucket-link]:text-is("${config.bucket_a}")`);
  await page.locator('[data-test=bucket-page]').waitFor();
  log('folders');
  await page.click('[data-test=prefix-link]:has-text("docs/")');
  await until(async () => (await page.locator('[data-test=object-key]').allInnerTexts()).includes('readme.md'), 5000, 'docs/readme.md listed');
  await shoot(page, 'bucket-folder');
  await page.goto(config.base + '/console/#/buckets/' + config.bucket_a);
  await page.click('[data-test=prefix-link]:has-text("q&a #1?/")');
  await until(async () => (await page.locator('[data-test=object-key]').allInnerTexts()).includes('答案 x.txt'), 5000, 'an object under a prefix with & # ? listed');
  await page.goto(config.base + '/console/#/buckets/' + config.bucket_a);
  // the root listing (the prefix view before it also had an object table)
  await page.locator('[data-test=prefix-link]:text-is("docs/")').waitFor();

  log('upload');
  const name = '报告 report #1.txt';
  const body = Buffer.from('console upload ' + 'x'.repeat(300000) + ' 结束\n');
  await page.setInputFiles('[data-test=upload-input]', { name, mimeType: 'text/plain', buffer: body });
  await page.click('[data-test=upload-submit]');
  await until(async () => (await page.locator('[data-test=object-key]').allInnerTexts()).includes(name), 15000, 'uploaded object listed');
  await shoot(page, 'bucket');

  log('download');
  const row = page.locator('tr', { has: page.locator(`[data-test=object-key]:text-is("${name}")`) });
  const [dl] = await Promise.all([page.waitForEvent('download'), row.locator('[data-test=download]').click()]);
  const saved = await dl.path();
  const got = readFileSync(saved);
  check(Buffer.compare(got, body) === 0, `downloaded bytes equal the upload (${got.length} vs ${body.length})`);

  log('delete');
  await row.locator('[data-test=delete]').click();
  await until(async () => !(await page.locator('[data-test=object-key]').allInnerTexts()).includes(name), 10000, 'object gone after delete');
  const r = await pageFetch(page, `/admin/v1/buckets/${config.bucket_a}/object?key=${encodeURIComponent(name)}`);
  checkEq(r.status, 404, 'the deleted object is gone');

  log('a file over 64 MiB is refused with advice');
  const big = path.join(mkdtempSync(path.join(os.tmpdir(), 'gzy-big-')), 'big.bin');
  try {
    const fd = openSync(big, 'w');
    ftruncateSync(fd, 64 * 1024 * 1024 + 1);
    closeSync(fd);
    await page.setInputFiles('[data-test=upload-input]', big);
    await page.click('[data-test=upload-submit]');
    const err = await text(page, '.upload [data-test=error]');
    check(err.includes('413') && /S3/.test(err), 'the refusal gives the status and says to use an S3 client: ' + err);
    await shoot(page, 'bucket-too-large');
  } finally {
    rmSync(path.dirname(big), { recursive: true, force: true });
  }
}

/* The object browser offers what the role allows (src/iam/authz.c): a tenant member uploads
 * and deletes; a tenant reader browses and downloads only, and the API refuses what the page
 * hides. */
async function bucketRoles({ page }) {
  const bucketUrl = config.base + '/console/#/buckets/' + encodeURIComponent(config.bucket_a);
  const objUrl = (k) => `/admin/v1/buckets/${encodeURIComponent(config.bucket_a)}/object?key=${encodeURIComponent(k)}`;
  const rootListed = async () => {
    await page.goto(bucketUrl);
    await until(async () => (await page.locator('[data-test=object-key]').allInnerTexts()).includes('hello.txt'), 10000, 'hello.txt listed');
  };
  const nObjects = () => page.locator('[data-test=object-key]').count();

  for (const who of ['member_a', 'reader_a']) {
    await signIn(page, who);
    await waitHash(page, /^#\/buckets/, who + ' lands on the buckets');
    checkEq(JSON.stringify(await navTargets(page)), '["buckets"]', who + '\'s menu');
    await expectText(page, '[data-test=who-role]', zh['role.' + (who === 'member_a' ? 'tenant-member' : 'tenant-reader')], who + '\'s role in the header');
    await rootListed();
    checkEq(await page.locator('[data-test=download]').count(), await nObjects(), who + ': a download per object');
    if (who === 'reader_a') break;

    log('member: upload and delete are offered and work');
    checkEq(await page.locator('[data-test=delete]').count(), await nObjects(), 'member: a delete per object');
    checkEq(await page.locator('[data-test=bucket-readonly]').count(), 0, 'member: no read-only notice');
    const name = 'member-note.txt';
    await page.setInputFiles('[data-test=upload-input]', { name, mimeType: 'text/plain', buffer: Buffer.from('by a member\n') });
    await page.click('[data-test=upload-submit]');
    await until(async () => (await page.locator('[data-test=object-key]').allInnerTexts()).includes(name), 15000, 'the member\'s upload listed');
    await shoot(page, 'bucket-member');
    await page.setViewportSize(WIDTHS.phone);
    await noHorizontalScroll(page, 'bucket page of a tenant member');
    await page.setViewportSize(WIDTHS.desktop);
    const row = page.locator('tr', { has: page.locator(`[data-test=object-key]:text-is("${name}")`) });
    await row.locator('[data-test=delete]').click();
    await until(async () => !(await page.locator('[data-test=object-key]').allInnerTexts()).includes(name), 10000, 'the member\'s delete');
    checkEq((await pageFetch(page, objUrl(name))).status, 404, 'member: the deleted object is gone');
    await signOut(page);
  }

  log('reader: no upload, no delete; download works; the API refuses writes');
  checkEq(await page.locator('[data-test=upload-input], [data-test=upload-submit]').count(), 0, 'reader: no upload');
  checkEq(await page.locator('[data-test=delete]').count(), 0, 'reader: no delete button');
  check((await text(page, '[data-test=bucket-readonly]')).includes(zh['role.tenant-reader']), 'reader: the page says it is read-only for the role');
  await shoot(page, 'bucket-reader');
  await page.setViewportSize(WIDTHS.phone);
  await noHorizontalScroll(page, 'bucket page of a tenant reader');
  await page.setViewportSize(WIDTHS.desktop);
  const row = page.locator('tr', { has: page.locator('[data-test=object-key]:text-is("hello.txt")') });
  const [dl] = await Promise.all([page.waitForEvent('download'), row.locator('[data-test=download]').click()]);
  checkEq(readFileSync(await dl.path(), 'utf8'), 'hello\n', 'reader: the download');
  const csrf = (await pageFetch(page, '/console/api/session')).body.csrf_token;
  const put = await pageFetch(page, objUrl('reader.txt'), { method: 'PUT', headers: { 'X-CSRF-Token': csrf }, body: 'no' });
  checkEq(`${put.status} ${put.body && put.body.error && put.body.error.code}`, '403 AccessDenied', 'reader: PUT refused');
  const dele = await pageFetch(page, objUrl('hello.txt'), { method: 'DELETE', headers: { 'X-CSRF-Token': csrf } });
  checkEq(`${dele.status} ${dele.body && dele.body.error && dele.body.error.code}`, '403 AccessDenied', 'reader: DELETE refused');
  checkEq((await pageFetch(page, objUrl('hello.txt'))).status, 200, 'reader: hello.txt is still there');
  checkEq((await pageFetch(page, objUrl('reader.txt'))).status, 404, 'reader: nothing was written');
}

/* Audit log: filter and export as JSON lines. */
async function audit({ page }) {
  await signIn(page, 'supervisor');
  await page.click('nav [data-nav=audit]');
  await page.locator('[data-test=audit-table] tbody tr').first().waitFor();
  const rowCount = () => page.locator('[data-test=audit-table] tbody tr[data-row]').count();
  const all = await rowCount();
  await page.fill('[data-test=audit-search]', 'CreateTenant');
  await expectFn(() => page.locator('[data-test=audit-table] td[data-col=action]').allInnerTexts(),
    (a) => a.length >= 2 && a.length < all && a.every((x) => x.includes('CreateTenant')), 'only CreateTenant actions after filtering by text');
  await page.fill('[data-test=audit-search]', '');
  await expectCount(page, '[data-test=audit-table] tbody tr[data-row]', all, 'every entry again');
  await page.selectOption('[data-test=audit-outcome]', 'deny');
  await expectFn(async () => [await rowCount(), await page.locator('[data-test=audit-table] tbody tr[data-row]:not(:has(.oc-deny))').count()],
    (v) => v[0] >= 1 && v[0] < all && v[1] === 0, 'denied calls only (the test setup made one)');
  await page.selectOption('[data-test=audit-outcome]', '');
  await expectCount(page, '[data-test=audit-table] tbody tr[data-row]', (n) => n >= all, 'every entry again');
  log('server-side filter by tenant');
  await page.fill('input[name=tenant]', T().b);
  await page.click('[data-test=audit-apply]');
  await until(async () => {
    const ts = await page.locator('[data-test=audit-table] td[data-col=tenant]').allInnerTexts();
    return ts.length > 0 && ts.every((x) => x.trim() === T().b);
  }, 10000, 'only the tenant\'s entries after filtering by tenant');
  await page.fill('input[name=tenant]', '');
  await page.click('[data-test=audit-apply]');
  await until(async () => new Set(await page.locator('[data-test=audit-table] td[data-col=tenant]').allInnerTexts()).size > 1, 10000, 'all tenants again');
  await shoot(page, 'audit');
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-test=audit-export]')]);
  check(/\.jsonl$/.test(dl.suggestedFilename()), 'export file name ' + dl.suggestedFilename());
  const lines = readFileSync(await dl.path(), 'utf8').trim().split('\n');
  const shown = await page.locator('[data-test=audit-table] tbody tr[data-row]').count();
  checkEq(lines.length, shown, 'exported lines = entries shown');
  const first = JSON.parse(lines[0]);
  check(first.action && first.time, 'an exported entry has action and time: ' + lines[0]);
}

/* The deadline policy: platform admins change it (audited); supervisors only read it. */
async function policy({ page }) {
  await signIn(page, 'root');
  await page.click('nav [data-nav=policy]');
  await page.locator('[data-test=policy-page]').waitFor();
  checkEq(await text(page, '[data-test=policy-name]'), config.policy_name, 'policy in force');
  await page.fill('input[name=at_risk_days]', '45');
  await page.click('[data-test=policy-save]');
  await until(async () => (await page.locator('[data-test=policy-current]').innerText()).includes('45'), 10000, 'at-risk days 45 shown');
  await shoot(page, 'policy');
  const a = await pageFetch(page, '/admin/v1/audit?limit=50');
  check(a.body.entries.some((e) => /Policy/.test(e.action || '') && e.outcome === 'allow'), 'the policy change is audited');
  await page.fill('input[name=at_risk_days]', '30');
  await page.click('[data-test=policy-save]');
  await until(async () => (await page.locator('[data-test=policy-current]').innerText()).includes('30'), 10000, 'at-risk days back to 30');
  await signOut(page);

  log('a supervisor reads the policy but cannot change it: no controls, and the API refuses');
  await signIn(page, 'supervisor', { hash: '/policy' });
  await page.locator('[data-test=policy-page]').waitFor();
  check((await page.locator('[data-test=policy-current]').innerText()).includes(config.policy_name), 'the supervisor sees the policy in force');
  checkEq(await page.locator('[data-test=policy-page] form, [data-test=policy-page] input, [data-test=policy-page] button').count(), 0, 'no form, field or button for a supervisor');
  const sess = (await pageFetch(page, '/console/api/session')).body;
  const put = await pageFetch(page, '/admin/v1/policy', {
    method: 'PUT', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': sess.csrf_token },
    body: JSON.stringify({ at_risk_days: 7 }),
  });
  checkEq(put.status, 403, 'PUT /admin/v1/policy as a supervisor ' + JSON.stringify(put.body));
  checkEq(put.body.error && put.body.error.code, 'AccessDenied', 'the refusal');
  checkEq((await pageFetch(page, '/admin/v1/policy')).body.at_risk_days, 30, 'the policy is unchanged');
  await signOut(page);

  log('a tenant admin does not see the policy page');
  await signIn(page, 'admin_a');
  check(!(await navTargets(page)).includes('policy'), 'no policy in a tenant admin\'s menu');
  await page.goto(config.base + '/console/#/policy');
  await expectText(page, 'main[data-page=policy] [data-test=error]', (e) => /AccessDenied/.test(e || ''), 'the policy page is denied to a tenant admin');
  checkEq(await page.locator('[data-test=policy-page]').count(), 0, 'no policy page for a tenant admin');
}

async function noHorizontalScroll(page, what) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  check(w <= WIDTHS.phone.width + 1, `${what}: page wider than the phone (${w} px)`);
}

/* Shoots each page at 1280 and 390 px and checks that at 390 px it is no wider than the screen
 * (pages: [name, hash, selector that shows it is loaded]). */
async function shootPages(page, prefix, pages) {
  for (const [name, hash, sel] of pages) {
    await page.goto(config.base + '/console/#' + hash);
    await page.locator(sel).first().waitFor();
    await page.waitForTimeout(200);
    await shoot(page, prefix + '-' + name);
    await page.setViewportSize(WIDTHS.phone);
    await page.waitForTimeout(150);
    await noHorizontalScroll(page, `${prefix} ${name}`);
    await page.setViewportSize(WIDTHS.desktop);
  }
}

/* Every page of every role at 1280 and 390 px: on a phone no page is wider than the screen,
 * the menu is a drawer that closes after a choice and secondary columns collapse. The
 * server's CSP refuses inline styles (checked by trying one). */
async function screens(b) {
  const { page } = b;
  await signIn(page, 'supervisor');
  const jobs = await pageFetch(page, '/admin/v1/migrations');
  const job = jobs.body.migrations && jobs.body.migrations.find((j) => j.tenant_name === T().a);
  check(job, 'a job of tenant A to show');
  const platformPages = [
    ['overview', '/overview', '[data-test=total-tenants]'],
    ['tenant', '/tenant/' + T().a, '[data-test=tenant-page]'],
    ['migrations', '/migrations', '[data-test=job-table]'],
    ['migration-detail', '/migrations/' + job.id, '[data-test=job-page]'],
    ['audit-page', '/audit', '[data-test=audit-table]'],
    ['policy-page', '/policy', '[data-test=policy-page]'],
  ];
  await shootPages(page, 'sup', platformPages);
  await page.goto(config.base + '/console/#/tenant/' + T().a);
  await page.locator('[data-test=tenant-page]').waitFor();
  checkEq(await page.locator('[data-test=tenant-job-create]').count(), 0, 'a supervisor gets no "new migration" button');
  checkEq(await page.locator('[data-test=contract-add]').count(), 0, 'a supervisor cannot add contracts');

  log('phone: drawer menu, collapsed columns');
  await page.setViewportSize(WIDTHS.phone);
  await page.goto(config.base + '/console/#/overview');
  await page.locator('[data-test=tenant-table]').waitFor();
  check(!(await page.locator('[data-test=tenant-table] th[data-col=rate_bps]').isVisible()), 'the rate column collapses on a phone');
  await until(async () => { const bb = await page.locator('nav.sidenav').boundingBox(); return !bb || bb.x + bb.width <= 1; }, 3000, 'the menu to be off screen on a phone');
  await page.click('[data-test=menu-toggle]');
  await until(async () => { const bb = await page.locator('nav.sidenav').boundingBox(); return bb && bb.x >= -1; }, 3000, 'the drawer opens');
  await page.screenshot({ path: artifactPath('drawer-390.png') });
  await page.click('nav [data-nav=audit]');
  await page.locator('[data-test=audit-table]').waitFor();
  await until(async () => { const bb = await page.locator('nav.sidenav').boundingBox(); return !bb || bb.x + bb.width <= 1; }, 3000, 'the drawer closes after choosing');
  await noHorizontalScroll(page, 'audit');
  await page.setViewportSize(WIDTHS.desktop);
  await signOut(page);

  log('platform admin');
  await signIn(page, 'root');
  await shootPages(page, 'root', platformPages);
  await signOut(page);

  log('tenant admin');
  await signIn(page, 'admin_a');
  await shootPages(page, 'ten', [
    ['tenant', '/tenant/' + T().a, '[data-test=tenant-page]'],
    ['migrations', '/migrations', '[data-test=job-table]'],
    ['migration-detail', '/migrations/' + job.id, '[data-test=job-page]'],
    ['buckets', '/buckets', '[data-test=bucket-table]'],
    ['bucket-browser', '/buckets/' + config.bucket_a, '[data-test=object-table]'],
  ]);

  log('the CSP refuses an inline style, and the scenario sees it');
  const before = b.problems.length;
  await page.evaluate(() => {
    const d = document.createElement('div');
    d.setAttribute('style', 'color: red');
    document.body.appendChild(d);
  });
  await until(async () => b.problems.length > before, 5000, 'a CSP violation reported for an inline style');
  check(b.problems.slice(before).some((p) => /style-src/.test(p)), 'the violation: ' + b.problems.slice(before).join(' | '));
  b.problems.splice(before);
}

async function createJob(page, { name, secret, bandwidth, dest, endpoint, bucket, start = true }) {
  const m = config.moto;
  await page.goto(config.base + '/console/#/migrations');
  await page.click('[data-test=job-create-open]');
  const f = page.locator('[data-test=job-form]');
  await f.locator('input[name=name]').fill(name);
  await f.locator('input[name=endpoint]').fill(endpoint || m.endpoint);
  await f.locator('input[name=bucket]').fill(bucket || m.bucket);
  await f.locator('input[name=access_key]').fill(m.ak);
  await f.locator('input[name=secret_key]').fill(secret);
  await f.locator('input[name=dest_bucket]').fill(dest);
  await f.locator('input[name=concurrency]').fill('1');
  if (bandwidth) await f.locator('input[name=bandwidth_limit]').fill(String(bandwidth));
  if (!start) await f.locator('input[name=start]').uncheck();
  await f.locator('[data-test=job-submit]').click();
  await page.locator('[data-test=job-page]').waitFor();
}

async function waitState(page, want, ms) {
  let now = null;
  try {
    await until(async () => (now = await jobState(page)) === want, ms, 'job state ' + want);
  } catch (e) {
    throw new Error(e.message + ' (the job is ' + now + ')');
  }
}

/* Pause, resume and cancel a throttled job; a job whose source is unreachable fails with the
 * reason shown. */
async function jobControls({ page }) {
  await signIn(page, 'admin_a');
  log('throttled job: pause, resume, cancel');
  await createJob(page, { name: 'slow-e2e', secret: config.moto.sk, bandwidth: 65536, dest: config.moto.dest_bucket + '-slow' });
  await waitState(page, 'running', 20000);
  log('live rate and ETA while it runs');
  const live = await until(async () => {
    const r = await text(page, '[data-test=job-rate]'), e = await text(page, '[data-test=job-eta]');
    return r !== '—' && e !== '—' && [r, e];
  }, 20000, 'the rate and the ETA shown while the job runs');
  check(/^[\d.]+ (B|KiB|MiB|GiB)\/s$/.test(live[0]), 'a rate: ' + live[0]);
  check(/\d/.test(live[1]), 'an ETA: ' + live[1]);
  await shoot(page, 'migration-live');
  await page.click('[data-test=job-page] .page-head [data-action=pause]');
  await waitState(page, 'paused', 20000);
  await shoot(page, 'migration-paused');
  await page.click('[data-test=job-page] .page-head [data-action=resume]');
  await waitState(page, 'running', 20000);
  await page.click('[data-test=job-page] .page-head [data-action=cancel]');
  await waitState(page, 'cancelled', 20000);

  log('unreachable source: the job fails and says why');
  await createJob(page, { name: 'dead-e2e', secret: config.moto.sk, dest: config.moto.dest_bucket + '-bad', endpoint: config.dead_endpoint });
  await waitState(page, 'failed', 60000);
  const err = await page.locator('[data-test=error]').allInnerTexts();
  check(err.length > 0 && err.join(' ').length > 20, 'the failed job shows its error: ' + err.join(' | '));
  await shoot(page, 'migration-failed');

  log('an object the source refuses to read: listed as failed, with the reason');
  const d = config.deny;
  await createJob(page, { name: 'deny-e2e', secret: config.moto.sk, dest: config.moto.dest_bucket + '-deny', endpoint: d.endpoint, bucket: d.bucket });
  const end = await until(async () => { const st = await jobState(page); return ['completed', 'failed', 'cancelled'].includes(st) && st; }, 60000, 'the job to end');
  checkEq(end, 'failed', 'a pass with a failed object ends the job as failed');
  check((await page.locator('[data-test=error]').allInnerTexts()).join(' ').includes('1'), 'the job error counts the failed object');
  await until(async () => (await text(page, '[data-test=job-failed-count]')) === '1', 5000, 'one failed object');
  const row = page.locator('[data-test=job-failed] tbody tr', { has: page.locator(`td[data-col=key]:text-is("${d.key}")`) });
  await row.waitFor();
  const reason = (await row.locator('td[data-col=reason]').textContent()).trim();
  check(/403/.test(reason) && /AccessDenied/.test(reason), 'the reason gives the source\'s answer: ' + reason);
  checkEq(await page.locator('[data-test=job-failed] tbody tr').count(), 1, 'only the refused object is listed');
  checkEq(await text(page, '[data-test=job-verified]'), String(d.objects - 1), 'the other objects verified');
  await shoot(page, 'migration-failed-objects');
}

/* A job created without starting it, run with the Start button, then started again for a
 * second pass; the tenant page lists every manifest of every job (newest first) and the
 * newest downloads as the signed manifest (the wrapper checks it with verify-manifest). */
async function startManifests({ page }) {
  const m = config.moto;
  await signIn(page, 'admin_a');
  log('created, not started');
  await createJob(page, { name: 'start-e2e', secret: m.sk, dest: m.dest_bucket + '-start', start: false });
  await waitState(page, 'created', 10000);
  await page.waitForTimeout(2500); // a poll later it has still not started by itself
  checkEq(await jobState(page), 'created', 'a job created with "start now" unchecked waits');
  const id = await page.getAttribute('[data-test=job-page]', 'data-job');
  checkEq(await page.locator('[data-test=job-page] .page-head [data-action=pause]').count(), 0, 'no pause before it runs');
  log('the Start button');
  await page.click('[data-test=job-page] .page-head [data-action=start]');
  await waitState(page, 'completed', 120000);
  await until(async () => (await text(page, '[data-test=job-verified]')) === String(m.objects), 5000, `verified ${m.objects}`);
  log('Start again: a second pass');
  await page.click('[data-test=job-page] .page-head [data-action=start]');
  await until(async () => {
    const j = (await pageFetch(page, '/admin/v1/migrations/' + id)).body;
    return j.passes_done === 2 && j.state === 'completed';
  }, 120000, 'the second pass to complete');

  log('tenant page: every manifest, newest first');
  const want = [];
  const jobs = (await pageFetch(page, '/admin/v1/migrations')).body.migrations.filter((j) => j.manifest);
  for (const j of jobs) {
    const r = await pageFetch(page, '/admin/v1/migrations/' + j.id + '/manifests');
    checkEq(r.status, 200, 'GET manifests of ' + j.name);
    for (const x of r.body.manifests) want.push({ ...x, job: j.id });
  }
  want.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  checkEq(JSON.stringify(want.filter((x) => x.job === id).map((x) => x.pass)), '[2,1]', 'both passes of the job filed a manifest');
  check(want.some((x) => x.job !== id), 'the other job\'s manifest is listed too');
  await page.goto(config.base + '/console/#/tenant/' + T().a);
  const rowsSel = '[data-test=manifest-table] tbody tr[data-row]';
  await until(async () => (await page.locator(rowsSel).count()) === want.length, 10000, `${want.length} manifests listed`);
  const rows = await page.locator(rowsSel).evaluateAll((trs) => trs.map((tr) => {
    const c = (k) => tr.querySelector(`td[data-col=${k}]`).textContent.trim();
    return { key: tr.getAttribute('data-row'), created: c('created'), pass: c('pass'), objects: c('objects') };
  }));
  checkEq(JSON.stringify(rows.map((r) => r.key)), JSON.stringify(want.map((w) => w.job + '-' + w.pass)), 'manifests, newest first');
  rows.forEach((r, i) => {
    checkEq(r.created, fmt.time(want[i].created), 'filed time of ' + r.key);
    checkEq(r.pass, fmt.num(want[i].pass), 'pass of ' + r.key);
    checkEq(r.objects, fmt.num(want[i].objects), 'objects of ' + r.key);
  });
  await shoot(page, 'tenant-manifests');
  log('download the newest');
  const [dl] = await Promise.all([page.waitForEvent('download'),
    page.locator(rowsSel).first().locator('[data-test=manifest-download]').click()]);
  const saved = await dl.path();
  const doc = JSON.parse(readFileSync(saved, 'utf8'));
  checkEq(doc.pass, want[0].pass, 'the downloaded manifest\'s pass');
  checkEq(doc.counts.objects, doc.objects.length, 'counts.objects = objects listed');
  checkEq(doc.counts.objects, want[0].objects, 'the object count the page showed');
  check(/^[0-9a-f]{128}$/.test(doc.signature || ''), 'a signature');
  copyFileSync(saved, config.manifest_out);
}

/* The tenant page's usage against the quotas the test set (tenant: bytes and objects; one
 * bucket: objects), following an upload. */
async function usage({ page }) {
  await signIn(page, 'admin_a');
  const sel = (k) => `[data-test=tenant-usage] [data-test=usage-${k}] .progress-label`;
  const check1 = async () => {
    const u = (await pageFetch(page, '/admin/v1/usage?tenant=' + encodeURIComponent(T().a))).body.tenants[0];
    check(u.quota.max_bytes === 300 * 1024 * 1024 && u.quota.max_objects === 5000, 'the quota set by the test: ' + JSON.stringify(u.quota));
    await page.locator(sel('bytes')).waitFor();
    checkEq((await page.locator(sel('bytes')).textContent()).trim(), `${fmt.bytes(u.bytes)} / ${fmt.bytes(u.quota.max_bytes)}`, 'bytes used / quota');
    checkEq((await page.locator(sel('objects')).textContent()).trim(), `${fmt.num(u.objects)} / ${fmt.num(u.quota.max_objects)}`, 'objects / quota');
    const b = u.buckets.find((x) => x.name === config.bucket_a);
    const row = page.locator(`[data-test=bucket-usage] tbody tr[data-row="${config.bucket_a}"]`);
    checkEq((await row.locator('td[data-col=objects]').textContent()).trim(), `${fmt.num(b.objects)} / 40`, 'bucket objects / its quota');
    checkEq((await row.locator('td[data-col=bytes]').textContent()).trim(), `${fmt.bytes(b.bytes)} / ${zh['quota.unlimited']}`, 'bucket bytes, no byte quota');
    return u;
  };
  await page.locator('[data-test=tenant-page]').waitFor();
  const before = await check1();
  await shoot(page, 'tenant-usage');
  log('upload 1 MiB; the page shows the new usage');
  const sess = (await pageFetch(page, '/console/api/session')).body;
  const put = await page.evaluate(async ([url, token]) => {
    const r = await fetch(url, { method: 'PUT', credentials: 'same-origin', headers: { 'X-CSRF-Token': token }, body: new Uint8Array(1 << 20) });
    return r.status;
  }, [`/admin/v1/buckets/${config.bucket_a}/object?key=usage-check.bin`, sess.csrf_token]);
  check(put === 200 || put === 201 || put === 204, 'upload through the console API: ' + put);
  await until(async () => {
    const u = (await pageFetch(page, '/admin/v1/usage?tenant=' + encodeURIComponent(T().a))).body.tenants[0];
    return u.objects === before.objects + 1 && u.bytes === before.bytes + (1 << 20);
  }, 10000, 'the usage to count the upload');
  await page.reload();
  await page.locator('[data-test=tenant-page]').waitFor();
  const after = await check1();
  checkEq(after.objects, before.objects + 1, 'one more object shown');
}

/* Sign-out ends the session on the server too. */
async function signout({ page }) {
  await signIn(page, 'admin_a');
  await page.locator('[data-test=tenant-page]').waitFor();
  await signOut(page);
  check((await page.locator('.notice').innerText()).length > 0, 'a signed-out notice');
  checkEq((await pageFetch(page, '/console/api/session')).status, 401, 'session after sign-out');
  const who = await pageFetch(page, '/admin/v1/whoami');
  check(who.status === 401 || who.status === 403, 'admin API after sign-out: ' + who.status);
  await page.goto(config.base + '/console/#/tenant/' + T().a);
  await page.locator('[data-test=signin-form]').waitFor();
  checkEq(await page.locator('[data-test=tenant-page]').count(), 0, 'no tenant page after sign-out');
}

export const SCENARIOS = {
  signin_language: signinLanguage,
  tenant_contract: tenantContract,
  migration,
  overview,
  overview_live: overviewLive,
  isolation,
  buckets,
  bucket_roles: bucketRoles,
  audit,
  policy,
  screens,
  signout,
  job_controls: jobControls,
  start_manifests: startManifests,
  usage,
};
