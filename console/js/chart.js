// A small SVG line chart, built with DOM calls (no innerHTML) and classes only (the CSP forbids
// inline styles): lineChart(series, opts) returns <svg class="chart" role="img">, chartLegend(series)
// the HTML legend to put below it.
//
// series: [{name: 'Requests/s', points: [[tsMs, value], ...], cls: 's0'}] (cls defaults to s{i},
// i < 4; a null value breaks the line). opts: {width, height (viewBox units; the chart scales to
// its box), title (the accessible name's start), yFormat(v) and xFormat(ts) for tick labels and the
// summary, xMin/xMax/yMax to fix the axes, empty (the text when no series has a point)}.
//
// Accessibility: role="img" with an aria-label naming each series' latest value, a <title>, and a
// <desc> that lists the same values; chartTable(series, opts) gives a visually hidden table of the
// latest values for pages that want one outside the SVG.
//
// Test hooks: the svg has data-testid="chart-svg" and data-empty="true|false"; each line is a
// <path data-series="NAME">.
import { addStrings, h, t } from './core.js';

addStrings({
    en: {
        'chart.empty': 'No data yet',
        'chart.latest': '{name}: {value}',
        'chart.nodata': '{name}: no data',
        'chart.summary': '{title}. Latest values: {values}',
        'chart.col.series': 'Series',
        'chart.col.latest': 'Latest value',
        'chart.col.time': 'At',
    },
    zh: {
        'chart.empty': '暂无数据',
        'chart.latest': '{name}：{value}',
        'chart.nodata': '{name}：无数据',
        'chart.summary': '{title}。最新值：{values}',
        'chart.col.series': '数据系列',
        'chart.col.latest': '最新值',
        'chart.col.time': '时间',
    },
});

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...children) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === false || v === null || v === undefined) continue;
        el.setAttribute(k, String(v));
    }
    for (const c of children) {
        if (c === null || c === undefined || c === false) continue;
        el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
}

// A "nice" step (1, 2, 2.5 or 5 times a power of ten) that splits 0..max in about n parts.
function niceStep(max, n) {
    const raw = max / n;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
}

export function defaultYFormat(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return '-';
    const a = Math.abs(v);
    if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
    if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
    if (a >= 100 || Number.isInteger(v)) return String(Math.round(v));
    if (a >= 1) return String(+v.toFixed(1));
    return String(+v.toFixed(2));
}

export function defaultXFormat(ts) {
    const d = new Date(ts);
    const p = (n) => String(n).padStart(2, '0');
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function seriesClass(se, i) {
    return se.cls || `s${i % 4}`;
}

// The latest non-null point of a series, or null.
function latest(se) {
    const pts = se.points || [];
    for (let i = pts.length - 1; i >= 0; i--) if (pts[i][1] !== null && pts[i][1] !== undefined) return pts[i];
    return null;
}

function latestValues(series, yFormat) {
    return series.map((se) => {
        const p = latest(se);
        return p ? t('chart.latest', { name: se.name, value: yFormat(p[1]) }) : t('chart.nodata', { name: se.name });
    });
}

export function lineChart(series, opts) {
    const o = opts || {};
    const W = Math.max(240, Math.round(o.width || 720));
    const H = Math.max(120, Math.round(o.height || 240));
    const yFormat = o.yFormat || defaultYFormat;
    const xFormat = o.xFormat || defaultXFormat;
    const title = o.title || '';
    const pad = { l: 52, r: 14, t: 12, b: 26 };
    const pw = W - pad.l - pad.r;
    const ph = H - pad.t - pad.b;

    const all = [];
    for (const se of series) for (const p of se.points || []) if (p[1] !== null && p[1] !== undefined && Number.isFinite(p[1])) all.push(p);
    const empty = all.length === 0;
    const values = latestValues(series, yFormat);
    const summary = t('chart.summary', { title, values: values.join('; ') });

    const svg = s('svg', {
        class: 'chart',
        viewBox: `0 0 ${W} ${H}`,
        role: 'img',
        'aria-label': summary,
        'data-testid': 'chart-svg',
        'data-empty': empty ? 'true' : 'false',
        focusable: 'false',
    });
    svg.append(s('title', {}, title || summary), s('desc', {}, values.join('; ')));

    let xMin = o.xMin !== undefined ? o.xMin : Math.min(...all.map((p) => p[0]));
    let xMax = o.xMax !== undefined ? o.xMax : Math.max(...all.map((p) => p[0]));
    if (!Number.isFinite(xMin) || !Number.isFinite(xMax)) {
        xMax = Date.now();
        xMin = xMax - 60000;
    }
    if (xMax <= xMin) xMin = xMax - 10000;
    let yTop = Math.max(o.yMax || 0, ...all.map((p) => p[1]), 0);
    if (yTop <= 0) yTop = 1;
    const step = niceStep(yTop, 4);
    yTop = Math.ceil(yTop / step - 1e-9) * step;
    const X = (ts) => pad.l + ((ts - xMin) / (xMax - xMin)) * pw;
    const Y = (v) => pad.t + ph - (v / yTop) * ph;

    // Grid and y ticks.
    const grid = s('g', { class: 'y-axis' });
    for (let v = 0; v <= yTop + step / 2; v += step) {
        const y = Y(v).toFixed(1);
        grid.append(s('line', { class: v === 0 ? 'axis' : 'grid', x1: pad.l, x2: W - pad.r, y1: y, y2: y }));
        grid.append(s('text', { x: pad.l - 6, y: +y + 4, 'text-anchor': 'end' }, yFormat(+v.toFixed(6))));
    }
    svg.append(grid);
    // X axis and ticks (about one per 110 units of width).
    const xa = s('g', { class: 'x-axis' });
    xa.append(s('line', { class: 'axis', x1: pad.l, x2: pad.l, y1: pad.t, y2: pad.t + ph }));
    const nx = Math.max(2, Math.min(6, Math.floor(pw / 110)));
    for (let i = 0; i <= nx; i++) {
        const ts = xMin + ((xMax - xMin) * i) / nx;
        const x = X(ts).toFixed(1);
        xa.append(s('line', { class: 'axis', x1: x, x2: x, y1: pad.t + ph, y2: pad.t + ph + 4 }));
        xa.append(s('text', { x, y: H - 8, 'text-anchor': i === 0 ? 'start' : i === nx ? 'end' : 'middle' }, xFormat(ts)));
    }
    svg.append(xa);

    if (empty) {
        svg.append(s('text', { class: 'chart-empty', x: pad.l + pw / 2, y: pad.t + ph / 2, 'text-anchor': 'middle' }, o.empty || t('chart.empty')));
        return svg;
    }

    // The lines: a path per run of non-null points; a lone point is a dot.
    series.forEach((se, i) => {
        const cls = seriesClass(se, i);
        const g = s('g', { 'data-series': se.name });
        let d = '';
        let run = [];
        const flush = () => {
            if (run.length === 1) g.append(s('circle', { class: `${cls} dot`, cx: run[0][0], cy: run[0][1], r: 2 }));
            else if (run.length > 1) d += run.map((p, k) => `${k ? 'L' : 'M'}${p[0]} ${p[1]}`).join(' ') + ' ';
            run = [];
        };
        for (const p of (se.points || []).slice().sort((a, b) => a[0] - b[0])) {
            if (p[1] === null || p[1] === undefined || !Number.isFinite(p[1]) || p[0] < xMin || p[0] > xMax) flush();
            else run.push([X(p[0]).toFixed(1), Y(p[1]).toFixed(1)]);
        }
        flush();
        if (d) g.prepend(s('path', { class: cls, d: d.trim(), 'data-series': se.name }));
        svg.append(g);
    });
    return svg;
}

// The legend: one entry per series with its colour swatch and latest value.
export function chartLegend(series, opts) {
    const yFormat = (opts && opts.yFormat) || defaultYFormat;
    return h(
        'ul',
        { class: 'legend chart-legend', 'aria-hidden': 'true' },
        series.map((se, i) => {
            const p = latest(se);
            return h('li', {}, h('span', { class: `sw ${seriesClass(se, i)}` }), se.name, ': ', h('strong', {}, p ? yFormat(p[1]) : '-'));
        })
    );
}

// The latest values as a table for screen readers (class visually-hidden: visually hidden).
export function chartTable(series, opts) {
    const o = opts || {};
    const yFormat = o.yFormat || defaultYFormat;
    const xFormat = o.xFormat || defaultXFormat;
    return h(
        'table',
        { class: 'visually-hidden' },
        o.title ? h('caption', {}, o.title) : null,
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('chart.col.series')), h('th', { scope: 'col' }, t('chart.col.latest')), h('th', { scope: 'col' }, t('chart.col.time')))),
        h(
            'tbody',
            {},
            series.map((se) => {
                const p = latest(se);
                return h('tr', {}, h('th', { scope: 'row' }, se.name), h('td', {}, p ? yFormat(p[1]) : '-'), h('td', {}, p ? xFormat(p[0]) : '-'));
            })
        )
    );
}
