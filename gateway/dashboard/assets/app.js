// Clearway airport cargo desk dashboard. Plain script, no build step and no
// library: the page is served with a Content-Security-Policy that allows
// only this file and style.css, so every element (charts included) is built
// with DOM calls, and API text only ever lands in textContent.
'use strict';

// The key lives in sessionStorage only: it goes when the tab closes, is
// never sent as a cookie, and never appears in a URL or the browser history.
const KEY_STORE = 'clearway.apiKey';
const LANG_STORE = 'clearway.lang';
const REFRESH_MS = 5000;
// Customs days are China days (+08:00), wherever the desk's browser is set.
const CHINA_OFFSET_MS = 8 * 3600 * 1000;
const TOP_REASONS = 10;

const LABELS = {
  zh: {
    title: 'Clearway 机场货站看板', switchTo: 'EN', switchToName: 'Switch to English',
    signInHeading: '登录', keyLabel: 'API 密钥', signIn: '登录', signOut: '退出',
    keyHint: '密钥仅保存在本标签页中，关闭标签页即清除。', checking: '正在验证密钥…',
    keyRejected: '密钥未被接受', roleForbidden: '该角色无权查看看板（仅限 airport 和 admin 角色）',
    loadFailed: '数据加载失败，每 5 秒重试', updated: '更新于',
    today: '今日数据', declared: '申报', released: '放行', inspected: '查验', rejected: '退单',
    detained: '扣留', returned: '退运', departed: '离境', value: '申报货值（人民币）',
    inspectionRate: '查验率', releaseRate: '放行率',
    p50: '通关时长 P50', p90: '通关时长 P90', p99: '通关时长 P99',
    volume: '每小时申报与放行量', clearance: '通关时长分布（申报 → 放行）',
    histogramNote: '共 {n} 票；百分位数相对误差约 {e}', hour: '时', noData: '暂无数据',
    flights: '航班装机准备', voyageNo: '航班号', waybills: '总运单', parcels: '包裹',
    pending: '待放行', held: '受阻', readyToLoad: '可否装机', ready: '可装机', notReady: '未就绪',
    noFlights: '今日暂无航班', heldParcels: '{v} 受阻包裹', logisticsNo: '运单号', status: '状态',
    code: '回执代码', returnInfo: '回执说明', truncated: '仅显示前 {n} 件（共 {m} 件受阻）',
    reasons: '主要退单原因', reason: '原因', count: '票数', noReasons: '今日无退单',
    comparison: '本周对比', period: '周期', dates: '日期', growth: '本周增长',
    thisWeek: '本周至今', previousWeek: '上周同期', yearBefore: '去年同期',
    statuses: { rejected: '退单', detained: '扣留', returned: '退运', inspection: '查验', error: '错误' },
  },
  en: {
    title: 'Clearway airport cargo desk', switchTo: '中文', switchToName: '切换到中文',
    signInHeading: 'Sign in', keyLabel: 'API key', signIn: 'Sign in', signOut: 'Sign out',
    keyHint: 'The key stays in this tab only and is gone when the tab closes.', checking: 'Checking the key…',
    keyRejected: 'Key not accepted', roleForbidden: 'This role may not see the dashboard (only the airport and admin roles may)',
    loadFailed: 'Loading failed; retrying every 5 seconds', updated: 'updated',
    today: 'Today', declared: 'Declared', released: 'Released', inspected: 'Inspected', rejected: 'Rejected',
    detained: 'Detained', returned: 'Returned', departed: 'Departed', value: 'Declared value (CNY)',
    inspectionRate: 'Inspection rate', releaseRate: 'Release rate',
    p50: 'Clearance time p50', p90: 'Clearance time p90', p99: 'Clearance time p99',
    volume: 'Declared and released per hour', clearance: 'Clearance time (declared → released)',
    histogramNote: '{n} parcels; percentiles within about {e}', hour: 'h', noData: 'No data yet',
    flights: 'Flight readiness', voyageNo: 'Flight', waybills: 'Air waybills', parcels: 'Parcels',
    pending: 'Pending', held: 'Held', readyToLoad: 'Ready to load', ready: 'Ready', notReady: 'Not ready',
    noFlights: 'No flights today', heldParcels: 'Held parcels of {v}', logisticsNo: 'Logistics no.', status: 'Status',
    code: 'Code', returnInfo: 'Customs note', truncated: 'Showing the first {n} of {m} held parcels',
    reasons: 'Top rejection reasons', reason: 'Reason', count: 'Count', noReasons: 'No rejections today',
    comparison: 'This week compared', period: 'Period', dates: 'Dates', growth: 'This week vs.',
    thisWeek: 'This week so far', previousWeek: 'Previous week', yearBefore: 'Same week a year before',
    statuses: { rejected: 'rejected', detained: 'detained', returned: 'returned', inspection: 'inspection', error: 'error' },
  },
};

const state = {
  lang: sessionStorage.getItem(LANG_STORE) === 'en' ? 'en' : 'zh',
  timer: 0,
  inFlight: null, // AbortController of the running refresh, so sign-out can drop its answer
  last: null, // the last data shown, drawn again when the language changes
  message: null, // {label, detail} shown on the sign-in form
  loadError: null, // detail of the last failed refresh, shown above the figures
};

function t(name, vars = {}) {
  return LABELS[state.lang][name].replace(/\{(\w+)\}/g, (_, v) => vars[v]);
}

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

// ---- dates and numbers ----

function chinaDay(ms) {
  return new Date(ms + CHINA_OFFSET_MS).toISOString().slice(0, 10);
}

function addDays(day, n) {
  return new Date(Date.parse(day + 'T00:00:00Z') + n * 86400000).toISOString().slice(0, 10);
}

function mondayOf(day) {
  const weekday = new Date(day + 'T00:00:00Z').getUTCDay(); // 0 is Sunday
  return addDays(day, -((weekday + 6) % 7));
}

function clock(ms) {
  return new Date(ms + CHINA_OFFSET_MS).toISOString().slice(11, 19);
}

// The API's period ends are exclusive midnights; people read the last day.
function dayRange(period) {
  const from = period.from.slice(0, 10), last = addDays(period.to.slice(0, 10), -1);
  return from === last ? from : `${from} – ${last}`;
}

const integer = new Intl.NumberFormat('en-US');
const fmtInt = (n) => integer.format(n);

// Declared value arrives as a decimal string: group its digits without
// turning it into a float, so the fen are exactly what customs was told.
function fmtCNY(s) {
  const [whole, frac] = String(s).split('.');
  return '¥' + whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac ? '.' + frac : '');
}

const fmtRate = (r) => (r * 100).toFixed(1) + '%';

function fmtDuration(s) {
  if (s < 1) return Math.round(s * 1000) + 'ms';
  if (s < 10) return s.toFixed(1) + 's';
  if (s < 60) return Math.round(s) + 's';
  const whole = Math.round(s);
  const pad = (n) => String(n).padStart(2, '0');
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${pad(whole % 60)}s`;
  return `${Math.floor(whole / 3600)}h ${pad(Math.floor(whole % 3600 / 60))}m`;
}

function fmtGrowth(ratio) {
  if (ratio === null || ratio === undefined) return '—';
  const change = (ratio - 1) * 100;
  return (change >= 0 ? '+' : '') + change.toFixed(1) + '%';
}

// ---- the API ----

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

async function getJSON(path, key, signal) {
  const res = await fetch(path, { headers: { 'X-API-Key': key, Accept: 'application/json' }, signal, cache: 'no-store' });
  if (!res.ok) {
    // Errors are RFC 9457 problem details; a proxy in between may send
    // something else, and then the status text is all there is.
    let detail = res.statusText;
    try {
      const problem = await res.json();
      detail = problem.detail || problem.title || detail;
    } catch { /* not JSON */ }
    throw new ApiError(res.status, detail);
  }
  return res.json();
}

async function refresh() {
  clearTimeout(state.timer);
  const key = sessionStorage.getItem(KEY_STORE);
  if (!key) return;
  state.inFlight?.abort();
  const ctl = new AbortController();
  state.inFlight = ctl;
  const today = chinaDay(Date.now());
  try {
    const [stats, flights, week] = await Promise.all([
      getJSON(`/v1/stats/green-channel?from=${today}&to=${today}&groupBy=hour`, key, ctl.signal),
      getJSON(`/v1/flights?date=${today}`, key, ctl.signal),
      getJSON(`/v1/stats/green-channel?from=${mondayOf(today)}&to=${today}&groupBy=day`, key, ctl.signal),
    ]);
    if (ctl.signal.aborted) return;
    state.last = { today, stats, flights, week, at: Date.now() };
    state.loadError = null;
    renderError();
    showBoard();
    render();
  } catch (err) {
    if (ctl.signal.aborted) return; // signed out, or a newer refresh took over
    if (err.status === 401) return signOut({ label: 'keyRejected', detail: err.detail });
    if (err.status === 403) return signOut({ label: 'roleForbidden', detail: err.detail });
    // Anything else (a restart, a timeout) passes: keep the last figures,
    // say so, and try again on the next tick.
    state.loadError = err.detail || String(err);
    showBoard();
    renderError();
  } finally {
    if (state.inFlight === ctl) {
      state.inFlight = null;
      schedule();
    }
  }
}

// Polling waits for each answer before the next, and stops while the tab
// is hidden: a desk screen left in a background tab costs the API nothing.
function schedule() {
  clearTimeout(state.timer);
  if (sessionStorage.getItem(KEY_STORE) && document.visibilityState === 'visible') {
    state.timer = setTimeout(refresh, REFRESH_MS);
  }
}

// ---- sign-in and sign-out ----

function signIn(key) {
  sessionStorage.setItem(KEY_STORE, key);
  state.message = { label: 'checking', detail: '' };
  renderMessage();
  refresh();
}

function signOut(message) {
  sessionStorage.removeItem(KEY_STORE);
  clearTimeout(state.timer);
  state.inFlight?.abort();
  state.inFlight = null;
  state.last = null;
  state.loadError = null;
  state.message = message;
  clearBoard();
  $('board').hidden = true;
  $('signout').hidden = true;
  $('signin').hidden = false;
  $('updated').textContent = '';
  renderMessage();
  $('api-key').focus();
}

function showBoard() {
  state.message = null;
  $('signin').hidden = true;
  $('board').hidden = false;
  $('signout').hidden = false;
}

function renderError() {
  $('error').textContent = state.loadError ? `${t('loadFailed')}: ${state.loadError}` : '';
}

function renderMessage() {
  const m = state.message;
  $('signin-error').textContent = m ? [t(m.label), m.detail].filter(Boolean).join(': ') : '';
}

// ---- rendering ----

function applyLabels() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  document.title = t('title');
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  $('lang').textContent = t('switchTo');
  $('lang').title = t('switchToName');
  $('lang').lang = state.lang === 'zh' ? 'en' : 'zh-CN'; // the button names the other language, in it
  renderMessage();
  renderError();
}

const noDistribution = { count: 0, p50Seconds: 0, p90Seconds: 0, p99Seconds: 0, buckets: [] };
const clearanceOf = (f) => f.declaredToReleased || noDistribution;
const durationOf = (pick) => [(f) => pick(clearanceOf(f)), (v, f) => (clearanceOf(f).count ? fmtDuration(v) : '—')];

// Each card: its element id, the raw value from the API, and how to show it.
const FIGURES = [
  ['fig-declared', (f) => f.declared, fmtInt],
  ['fig-released', (f) => f.released, fmtInt],
  ['fig-inspected', (f) => f.inspected, fmtInt],
  ['fig-rejected', (f) => f.rejected, fmtInt],
  ['fig-detained', (f) => f.detained, fmtInt],
  ['fig-returned', (f) => f.returned, fmtInt],
  ['fig-departed', (f) => f.departed, fmtInt],
  ['fig-value', (f) => f.declaredValueCNY, fmtCNY],
  ['fig-inspection-rate', (f) => f.inspectionRate, fmtRate],
  ['fig-release-rate', (f) => f.releaseRate, fmtRate],
  ['fig-p50', ...durationOf((d) => d.p50Seconds)],
  ['fig-p90', ...durationOf((d) => d.p90Seconds)],
  ['fig-p99', ...durationOf((d) => d.p99Seconds)],
];

function render() {
  const { today, stats, flights, week, at } = state.last;
  $('updated').textContent = `${t('updated')} ${clock(at)}`;
  $('today-date').textContent = today;
  for (const [id, raw, show] of FIGURES) {
    const value = raw(stats.totals);
    // data-value keeps the API's own value (String() of a JSON number
    // renders it as JSON does), for whoever checks the page against the API.
    $(id).dataset.value = String(value);
    $(id).textContent = show(value, stats.totals);
  }
  $('chart-volume').replaceChildren(volumeChart(stats.rows || []));
  const dist = clearanceOf(stats.totals);
  $('chart-clearance').replaceChildren(clearanceChart(dist));
  $('clearance-note').textContent = dist.count
    ? t('histogramNote', { n: fmtInt(dist.count), e: fmtRate(stats.histogramRelativeError || 0) }) : '';
  renderFlights(flights.flights || []);
  renderReasons(stats.rejectionReasons || []);
  renderComparison(week);
}

function clearBoard() {
  for (const [id] of FIGURES) {
    $(id).textContent = '';
    delete $(id).dataset.value;
  }
  for (const id of ['chart-volume', 'chart-clearance', 'clearance-note', 'error', 'today-date']) $(id).replaceChildren();
  for (const id of ['flights', 'reasons', 'comparison']) $(id).tBodies[0].replaceChildren();
}

const CHART = { w: 560, h: 230, left: 40, right: 6, top: 14, bottom: 26 };

// The y scale ends on a round number so its gridlines read as plain counts.
function niceMax(v) {
  const step = 10 ** Math.floor(Math.log10(Math.max(v, 1)));
  return [1, 2, 2.5, 5, 10].map((m) => m * step).find((m) => m >= v);
}

function chartFrame(label, max) {
  const plotH = CHART.h - CHART.top - CHART.bottom;
  const y = (v) => CHART.top + plotH * (1 - v / max);
  const root = svg('svg', { viewBox: `0 0 ${CHART.w} ${CHART.h}`, role: 'img', 'aria-label': label });
  for (const v of [0, max / 2, max]) {
    root.append(svg('line', { class: 'grid', x1: CHART.left, x2: CHART.w - CHART.right, y1: y(v), y2: y(v) }),
      svg('text', { class: 'axis', x: CHART.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtInt(v)));
  }
  return { root, y };
}

function volumeChart(rows) {
  // Each row is placed by its key's hour, so an hour the API leaves out
  // shows as a gap rather than shifting the rest of the day.
  const hours = Array.from({ length: 24 }, () => ({ declared: 0, released: 0 }));
  for (const row of rows) {
    const m = /T(\d{2})/.exec(row.key);
    if (m) hours[Number(m[1])] = row;
  }
  const max = niceMax(Math.max(...hours.map((h) => Math.max(h.declared, h.released))));
  const { root, y } = chartFrame(t('volume'), max);
  const slot = (CHART.w - CHART.left - CHART.right) / 24, bar = slot * 0.4;
  hours.forEach((h, i) => {
    const x = CHART.left + i * slot + slot * 0.1;
    for (const [n, kind, dx] of [[h.declared, 'declared', 0], [h.released, 'released', bar]]) {
      root.append(svg('rect', { class: 'bar ' + kind, x: x + dx, y: y(n), width: bar, height: y(0) - y(n) },
        svg('title', {}, `${String(i).padStart(2, '0')}:00 ${t(kind)} ${fmtInt(n)}`)));
    }
    if (i % 3 === 0) {
      root.append(svg('text', { class: 'axis', x: x + bar, y: CHART.h - 8, 'text-anchor': 'middle' }, `${i}${t('hour')}`));
    }
  });
  return root;
}

// The API's buckets are narrow (a few percent wide) and logarithmic: whole
// runs of them are summed into at most MAX_BINS bars on a log axis, so the
// shape is legible from a metre away. Summing whole buckets, never parts,
// keeps every bar the same width (no comb of aliasing gaps); p50/p90/p99 are
// marked from the API's exact figures.
const MAX_BINS = 40;
// Axis ticks: 1-2-5 steps below a minute, then the minutes and hours a
// desk would name.
const TICKS = [-3, -2, -1, 0, 1].flatMap((e) => [1, 2, 5].map((m) => m * 10 ** e))
  .concat([60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 21600, 43200, 86400, 172800, 604800]);
const MIN_TICK_GAP = 48; // px of the chart's own scale, so labels never touch

function fmtTick(s) {
  if (s < 1) return Math.round(s * 1000) + 'ms';
  if (s < 60) return s + 's';
  if (s < 3600) return s / 60 + 'm';
  return s < 86400 ? s / 3600 + 'h' : s / 86400 + 'd';
}

function clearanceChart(dist) {
  const buckets = (dist.buckets || []).filter((b) => b.count > 0 && b.toSeconds > 0);
  if (!buckets.length) return el('p', { class: 'hint' }, t('noData'));
  const sample = buckets.find((b) => b.fromSeconds > 0);
  const step = Math.log(sample ? sample.toSeconds / sample.fromSeconds : 2);
  // Bucket i ends at γ^i: counting from the lowest end keeps indices whole.
  const lowest = Math.min(...buckets.map((b) => b.toSeconds));
  const index = (b) => Math.round(Math.log(b.toSeconds / lowest) / step);
  const last = Math.max(...buckets.map(index));
  const perBin = Math.ceil((last + 1) / MAX_BINS);
  const bins = new Array(Math.ceil((last + 1) / perBin)).fill(0);
  for (const b of buckets) bins[Math.floor(index(b) / perBin)] += b.count;
  const lo = Math.log(lowest) - step, binLog = perBin * step, hi = lo + bins.length * binLog;

  const { root, y } = chartFrame(t('clearance'), niceMax(Math.max(...bins)));
  const plotW = CHART.w - CHART.left - CHART.right, binW = plotW / bins.length;
  const x = (s) => CHART.left + (Math.log(s) - lo) / (hi - lo) * plotW;
  bins.forEach((n, i) => {
    if (!n) return;
    const from = Math.exp(lo + i * binLog), to = Math.exp(lo + (i + 1) * binLog);
    root.append(svg('rect', { class: 'bar declared', x: CHART.left + i * binW + 0.5, y: y(n), width: Math.max(binW - 1, 1), height: y(0) - y(n) },
      svg('title', {}, `${fmtDuration(from)} – ${fmtDuration(to)}: ${fmtInt(n)}`)));
  });
  let ticks = TICKS.filter((s) => Math.log(s) >= lo && Math.log(s) <= hi).map((s) => [s, fmtTick(s)]);
  if (ticks.length < 2) ticks = [Math.exp(lo), Math.exp(hi)].map((s) => [s, fmtDuration(s)]); // a narrow spread: label its ends
  let lastX = -Infinity;
  for (const [s, label] of ticks) {
    if (x(s) - lastX < MIN_TICK_GAP) continue;
    lastX = x(s);
    const anchor = x(s) < CHART.left + 20 ? 'start' : x(s) > CHART.w - 20 ? 'end' : 'middle';
    root.append(svg('text', { class: 'axis', x: x(s), y: CHART.h - 8, 'text-anchor': anchor }, label));
  }
  // Percentiles often lie close together: each label gets its own line.
  [['p50', dist.p50Seconds], ['p90', dist.p90Seconds], ['p99', dist.p99Seconds]].forEach(([name, s], i) => {
    if (!(s > 0)) return;
    const px = Math.min(Math.max(x(s), CHART.left), CHART.w - CHART.right);
    const right = px > CHART.w - 40; // near the right edge the label goes to the line's left
    root.append(svg('line', { class: 'marker', x1: px, x2: px, y1: CHART.top, y2: y(0) }),
      svg('text', { class: 'marker-label', x: right ? px - 3 : px + 3, y: CHART.top + 12 + 14 * i, 'text-anchor': right ? 'end' : 'start' }, name));
  });
  return root;
}

const num = (n, attrs = {}) => el('td', { class: 'num', ...attrs }, fmtInt(n));

function renderFlights(flights) {
  const body = $('flights').tBodies[0];
  body.replaceChildren();
  if (!flights.length) body.append(el('tr', {}, el('td', { colspan: 8, class: 'hint' }, t('noFlights'))));
  for (const f of flights) {
    const bills = el('ul', { class: 'bills' }, ...(f.waybills || []).map((w) => el('li', {}, w.billNo)));
    body.append(el('tr', { 'data-voyage': f.voyageNo },
      el('th', { scope: 'row' }, f.voyageNo), el('td', {}, bills),
      num(f.parcels), num(f.released), num(f.pending), num(f.inspected), num(f.held, { 'data-held': f.held }),
      el('td', {}, el('span', { class: 'badge', 'data-ready': String(f.readyToLoad) }, t(f.readyToLoad ? 'ready' : 'notReady')))));
    const held = f.heldParcels || [];
    if (f.held > 0 && held.length) body.append(heldRow(f, held));
  }
}

// Held parcels sit under their flight, so the desk sees which parcels keep
// a flight from loading without leaving the table.
function heldRow(f, held) {
  const statusName = (s) => LABELS[state.lang].statuses[s] || s;
  const table = el('table', { class: 'held' },
    el('caption', {}, t('heldParcels', { v: f.voyageNo })),
    el('thead', {}, el('tr', {}, ...['logisticsNo', 'status', 'code', 'returnInfo'].map((k) => el('th', { scope: 'col' }, t(k))))),
    el('tbody', {}, ...held.map((p) => el('tr', {},
      el('td', {}, p.logisticsNo), el('td', {}, statusName(p.status)), el('td', {}, p.code || ''), el('td', {}, p.returnInfo || '')))));
  const cell = el('td', { colspan: 8 }, table);
  if (f.heldParcelsTruncated) cell.append(el('p', { class: 'hint' }, t('truncated', { n: held.length, m: fmtInt(f.held) })));
  return el('tr', { class: 'held-row' }, cell);
}

function renderReasons(reasons) {
  const body = $('reasons').tBodies[0];
  const top = [...reasons].sort((a, b) => b.count - a.count).slice(0, TOP_REASONS);
  body.replaceChildren(...top.map((r) => el('tr', {}, el('td', {}, r.reason), num(r.count))));
  if (!top.length) body.append(el('tr', {}, el('td', { colspan: 2, class: 'hint' }, t('noReasons'))));
}

function renderComparison(week) {
  const c = week.comparison || {};
  const rows = [['thisWeek', week, null]];
  if (c.previous) rows.push(['previousWeek', c.previous, fmtGrowth(c.growthOverPrevious)]);
  if (c.yearBefore) rows.push(['yearBefore', c.yearBefore, fmtGrowth(c.growthOverYearBefore)]);
  $('comparison').tBodies[0].replaceChildren(...rows.map(([label, period, growth]) => el('tr', {},
    el('th', { scope: 'row' }, t(label)), el('td', { class: 'dates' }, dayRange(period)),
    num(period.totals.declared), num(period.totals.released), el('td', { class: 'num' }, growth ?? ''))));
}

// ---- wiring ----

$('signin-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = $('api-key').value.trim();
  $('api-key').value = '';
  if (key) signIn(key);
});

$('signout').addEventListener('click', () => signOut(null));

$('lang').addEventListener('click', () => {
  state.lang = state.lang === 'zh' ? 'en' : 'zh';
  sessionStorage.setItem(LANG_STORE, state.lang);
  applyLabels();
  if (state.last) render();
});

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') refresh();
  else clearTimeout(state.timer);
});

applyLabels();
if (sessionStorage.getItem(KEY_STORE)) signIn(sessionStorage.getItem(KEY_STORE));
else $('api-key').focus();
