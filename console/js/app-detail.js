// One app: #/apps/NAME — its spec, its deployment on each node (GET /apps/NAME/status, a page of
// 100 nodes with the summary over all of them, every 2 s)
// and, for a function app or one with monitorQps, its call statistics (GET /apps/NAME/stats, every
// 5 s) as two charts: requests/s with failures/s, and p99 latency.
//
// Test hooks (kept stable for tests/e2e/test_console.py):
//   <h1>                    contains the app name
//   data-testid="app-version"     the app's version (just the number)
//   data-testid="detail-edit"     link to #/apps/NAME/edit (the wizard's page)
//   data-testid="detail-delete"   button; confirm dialog names the app, then back to #/apps
//   data-testid="detail-counters" the status summary; badges <span data-counter="targeted|
//                                 applied|running|failed|notReporting" data-value="N">
//   data-testid="deploy-table"    rows <tr data-node="NODE"> with cells
//                                 data-col="node|version|phase|message|updated|containers";
//                                 the phase badge has data-phase="Running|..."; containers are
//                                 <li data-container="NAME" data-state="running|..."> (the
//                                 node's words) with data-restarts and data-exit-code
//   data-testid="deploy-prev", "deploy-page", "deploy-next"  the pager of the node rows (shown
//                                 when there are more than 100 nodes)
//   data-testid="qps-chart"       the statistics section (monitored apps only) holding the <svg>s
//                                 (data-testid="chart-svg"); selects data-testid="qps-node",
//                                 "qps-function" (value "*" for all; a function is "service/function"),
//                                 "qps-window" (seconds); data-testid="qps-note" for the muted
//                                 "no calls" / "monitoring off" note; data-testid="qps-totals"
import { addStrings, allStrings, api, clear, confirmDialog, every, go, h, pagerParts, route, selectorText, t, toast, age, labelChips, tableHead } from './core.js';
import { counterBadges, patchRows, stateClass, stateText } from './apps.js';
import { chartLegend, chartTable, lineChart } from './chart.js';

addStrings({
    en: {
        'detail.title': 'App {name}',
        'detail.edit': 'Edit',
        'detail.delete': 'Delete',
        'detail.spec': 'Specification',
        'detail.type': 'Type',
        'detail.version': 'Version',
        'detail.created': 'Created',
        'detail.updated': 'Updated',
        'detail.ago': '{age} ago',
        'detail.labels': 'Labels',
        'detail.selector': 'Target nodes',
        'detail.workload': 'Workload',
        'detail.replicas': 'Replicas',
        'detail.deployState': 'Deploy state',
        'detail.description': 'Description',
        'detail.services': 'Services',
        'detail.monitorQps': 'Call statistics',
        'detail.on': 'on',
        'detail.off': 'off',
        'detail.none': 'none',
        'detail.deployment': 'Deployment',
        'detail.col.node': 'Node',
        'detail.col.version': 'Version',
        'detail.col.phase': 'Phase',
        'detail.col.message': 'Message',
        'detail.col.updated': 'Updated',
        'detail.col.containers': 'Containers',
        'detail.offline': 'offline',
        'detail.outdated': 'not yet version {version}',
        'detail.never': 'not reported',
        'detail.restarts': 'restarts {n}',
        'detail.exit': 'exit code {n}',
        'detail.nocontainers': 'no containers',
        'detail.nonodes': 'No node is targeted and none reports this app.',
        'detail.counter.applied': 'applied {n}',
        'detail.delete.confirm': 'Delete app {name}? Every node removes its containers. This cannot be undone.',
        'detail.delete.ok': 'Delete {name}',
        'detail.deleted': 'App {name} deleted.',
        'detail.delete.failed': 'Could not delete app {name}: {error}',
        'detail.refresh.failed': 'Could not refresh the status: {error}',
        'detail.nodes.page': 'Page {page} of {pages} ({total} nodes)',
        'detail.nodes.pager': 'Pages of nodes',
        'detail.qps': 'Calls',
        'detail.qps.node': 'Node',
        'detail.qps.function': 'Function',
        'detail.qps.window': 'Window',
        'detail.qps.all.nodes': 'All nodes',
        'detail.qps.all.functions': 'All functions',
        'detail.qps.minutes': '{n} minutes',
        'detail.qps.hour': '1 hour',
        'detail.qps.rates': 'Calls per second',
        'detail.qps.latency': 'p99 latency (ms)',
        'detail.qps.requests': 'Requests/s',
        'detail.qps.failures': 'Failures/s',
        'detail.qps.p99': 'p99 latency (ms)',
        'detail.qps.nocalls': 'No calls recorded in the last {window}.',
        'detail.qps.off': 'Call statistics are off for this app (monitorQps is false).',
        'detail.qps.help.fleet': 'Requests per second of all nodes per 10 s slot; failures (calls not answered 2xx) and p99 latency are sampled every 5 s over the last 30 s while this page is open.',
        'detail.qps.help.sampled': 'Sampled every 5 s over the last 30 s while this page is open: requests and failures (calls not answered 2xx) per second, and p99 latency (for one function on all nodes: the highest node p99).',
        'detail.qps.totals': 'Totals for the selection over the window',
        'detail.qps.t.requests': 'Requests',
        'detail.qps.t.success': 'Successful',
        'detail.qps.t.clientErrors': 'Client errors (4xx)',
        'detail.qps.t.serverErrors': 'Server errors (5xx)',
        'detail.qps.t.timeouts': 'Timeouts',
        'detail.qps.t.qps': 'Requests/s',
        'detail.qps.t.latency': 'Latency p50 / p90 / p99 (ms)',
        'detail.phase.Running': 'Running',
        'detail.phase.Pending': 'Pending',
        'detail.phase.Deploying': 'Deploying',
        'detail.phase.Failed': 'Failed',
        'detail.phase.Removed': 'Removed',
        'detail.phase.Scheduled': 'Scheduled',
        'detail.phase.Succeeded': 'Succeeded',
    },
    zh: {
        'detail.title': '应用 {name}',
        'detail.edit': '编辑',
        'detail.delete': '删除',
        'detail.spec': '规格',
        'detail.type': '类型',
        'detail.version': '版本',
        'detail.created': '创建于',
        'detail.updated': '更新于',
        'detail.ago': '{age}前',
        'detail.labels': '标签',
        'detail.selector': '目标节点',
        'detail.workload': '工作负载',
        'detail.replicas': '副本数',
        'detail.deployState': '部署状态',
        'detail.description': '描述',
        'detail.services': '服务',
        'detail.monitorQps': '调用统计',
        'detail.on': '开',
        'detail.off': '关',
        'detail.none': '无',
        'detail.deployment': '部署情况',
        'detail.col.node': '节点',
        'detail.col.version': '版本',
        'detail.col.phase': '阶段',
        'detail.col.message': '消息',
        'detail.col.updated': '更新于',
        'detail.col.containers': '容器',
        'detail.offline': '离线',
        'detail.outdated': '尚未更新到版本 {version}',
        'detail.never': '未上报',
        'detail.restarts': '重启 {n} 次',
        'detail.exit': '退出码 {n}',
        'detail.nocontainers': '无容器',
        'detail.nonodes': '没有节点被选中，也没有节点上报此应用。',
        'detail.counter.applied': '已应用 {n}',
        'detail.delete.confirm': '删除应用 {name}？所有节点都会移除它的容器。此操作无法撤销。',
        'detail.delete.ok': '删除 {name}',
        'detail.deleted': '应用 {name} 已删除。',
        'detail.delete.failed': '无法删除应用 {name}：{error}',
        'detail.refresh.failed': '无法刷新状态：{error}',
        'detail.nodes.page': '第 {page} / {pages} 页（共 {total} 个节点）',
        'detail.nodes.pager': '节点分页',
        'detail.qps': '调用',
        'detail.qps.node': '节点',
        'detail.qps.function': '函数',
        'detail.qps.window': '时间窗口',
        'detail.qps.all.nodes': '所有节点',
        'detail.qps.all.functions': '所有函数',
        'detail.qps.minutes': '{n} 分钟',
        'detail.qps.hour': '1 小时',
        'detail.qps.rates': '每秒调用数',
        'detail.qps.latency': 'p99 延迟（毫秒）',
        'detail.qps.requests': '请求/秒',
        'detail.qps.failures': '失败/秒',
        'detail.qps.p99': 'p99 延迟（毫秒）',
        'detail.qps.nocalls': '最近 {window} 内没有调用记录。',
        'detail.qps.off': '此应用未开启调用统计（monitorQps 为 false）。',
        'detail.qps.help.fleet': '所有节点每 10 秒时段的每秒请求数；失败（未以 2xx 应答的调用）和 p99 延迟在本页面打开期间每 5 秒按最近 30 秒采样。',
        'detail.qps.help.sampled': '在本页面打开期间每 5 秒按最近 30 秒采样：每秒请求数和失败数（未以 2xx 应答的调用），以及 p99 延迟（单个函数在所有节点上时取各节点 p99 的最大值）。',
        'detail.qps.totals': '所选范围在时间窗口内的合计',
        'detail.qps.t.requests': '请求',
        'detail.qps.t.success': '成功',
        'detail.qps.t.clientErrors': '客户端错误（4xx）',
        'detail.qps.t.serverErrors': '服务端错误（5xx）',
        'detail.qps.t.timeouts': '超时',
        'detail.qps.t.qps': '请求/秒',
        'detail.qps.t.latency': '延迟 p50 / p90 / p99（毫秒）',
        'detail.phase.Running': '运行中',
        'detail.phase.Pending': '等待中',
        'detail.phase.Deploying': '部署中',
        'detail.phase.Failed': '失败',
        'detail.phase.Removed': '已移除',
        'detail.phase.Scheduled': '已计划',
        'detail.phase.Succeeded': '已成功',
    },
});

const WINDOWS = [300, 900, 3600];
const SAMPLE_WINDOW = 30; // seconds of the sampled counters (3 slots)

function phaseClass(phase) {
    if (phase === 'Running' || phase === 'Succeeded') return 'ok';
    if (phase === 'Failed') return 'bad';
    return 'warn';
}

function phaseText(phase) {
    if (!phase) return t('detail.never');
    const key = `detail.phase.${phase}`;
    return key in allStrings().en ? t(key) : phase; // a phase this console does not know: as is
}

function when(iso) {
    if (!iso) return h('span', { class: 'muted' }, t('detail.never'));
    return h('time', { datetime: iso, title: iso }, t('detail.ago', { age: age(iso) }));
}

function windowText(w) {
    return w >= 3600 ? t('detail.qps.hour') : t('detail.qps.minutes', { n: Math.round(w / 60) });
}

function specProps(app, summary) {
    const type = app.type || 'container';
    const deployState = (summary && summary.deployState) || app.deployState;
    const row = (key, ...dd) => [h('dt', {}, t(key)), h('dd', {}, ...dd)];
    const services = (app.services || []).map((s) => {
        const what = s.image || (s.runtime ? `${s.runtime}${s.functions ? `: ${s.functions.map((f) => f.name).join(', ')}` : ''}` : '');
        return h('li', {}, h('strong', {}, s.name), what ? ` — ${what}` : '');
    });
    return h(
        'dl',
        { class: 'props', 'data-testid': 'app-spec' },
        row('detail.type', t(`apps.type.${type}`)),
        row('detail.version', h('span', { 'data-testid': 'app-version' }, String(app.version))),
        row('detail.created', when(app.createdAt)),
        row('detail.updated', when(app.updatedAt)),
        row('detail.labels', labelChips(app.labels)),
        row('detail.selector', h('span', { class: 'mono' }, selectorText(app.selector))),
        row('detail.workload', app.workload || 'deployment'),
        row('detail.replicas', app.workload === 'daemonset' ? '-' : String(app.replicas || 1)),
        row('detail.deployState', h('span', { class: `badge ${stateClass(deployState)}`, 'data-testid': 'app-deploy-state' }, stateText(deployState))),
        row('detail.monitorQps', app.monitorQps ? t('detail.on') : t('detail.off')),
        row('detail.description', app.description ? app.description : h('span', { class: 'muted' }, t('detail.none'))),
        row('detail.services', services.length ? h('ul', { class: 'plain' }, services) : h('span', { class: 'muted' }, t('detail.none')))
    );
}

function containerList(containers) {
    if (!containers || !containers.length) return h('span', { class: 'muted' }, t('detail.nocontainers'));
    return h(
        'ul',
        { class: 'containers' },
        containers.map((c) => {
            const st = c.state || '';
            const cls = st === 'running' ? 'ok' : /exit|error|crash|fail|backoff/i.test(st) ? 'bad' : 'warn';
            return h(
                'li',
                { 'data-container': c.name, 'data-state': st, 'data-restarts': c.restarts ?? 0, 'data-exit-code': c.exitCode ?? 0 },
                h('span', { class: 'mono' }, c.name),
                ' ',
                h('span', { class: `badge ${cls}` }, st || '-'),
                ' ',
                h('span', { class: c.restarts > 0 ? 'warn-text' : 'muted' }, t('detail.restarts', { n: c.restarts ?? 0 })),
                c.exitCode ? [' ', h('span', { class: 'badge bad' }, t('detail.exit', { n: c.exitCode }))] : null,
                c.error ? h('div', { class: 'error container-error' }, c.error) : null
            );
        })
    );
}

// Refreshes the "N ago" texts of <time> elements in el.
function freshAges(el) {
    for (const tm of el.querySelectorAll('time[datetime]')) tm.textContent = t('detail.ago', { age: age(tm.getAttribute('datetime')) });
}

function deployRows(tbody, status) {
    patchRows(
        tbody,
        status.nodes || [],
        'data-node',
        (n) => n.node,
        (n) => JSON.stringify([n, status.version, document.documentElement.lang]),
        (n) => nodeRow(n, status),
        (r) => freshAges(r),
        () => h('tr', {}, h('td', { colspan: 6, class: 'empty' }, t('detail.nonodes')))
    );
}

function nodeRow(n, status) {
    return (
        h(
            'tr',
            { 'data-node': n.node },
            h(
                'td',
                { 'data-col': 'node' },
                h('a', { href: `#/nodes/${encodeURIComponent(n.node)}` }, n.node),
                n.online === false ? [' ', h('span', { class: 'badge warn' }, t('detail.offline'))] : null
            ),
            h(
                'td',
                { 'data-col': 'version', class: 'num' },
                n.version ? String(n.version) : '-',
                n.version && n.version !== status.version ? [' ', h('span', { class: 'badge warn', title: t('detail.outdated', { version: status.version }) }, '≠')] : null
            ),
            h('td', { 'data-col': 'phase' }, h('span', { class: `badge ${phaseClass(n.phase)}`, 'data-phase': n.phase || '' }, phaseText(n.phase))),
            h('td', { 'data-col': 'message', class: 'message' }, n.message || ''),
            h('td', { 'data-col': 'updated' }, when(n.updatedAt)),
            h('td', { 'data-col': 'containers' }, containerList(n.containers))
        )
    );
}

function detailCounters(summary) {
    const badges = counterBadges(summary);
    // The applied count sits after "targeted".
    const applied = h('span', { class: 'badge', 'data-counter': 'applied', 'data-value': summary.applied }, t('detail.counter.applied', { n: summary.applied }));
    badges.children[0]?.after(applied);
    return badges;
}

// ---- call statistics ------------------------------------------------------------------------

const ZERO = { requests: 0, success: 0, clientErrors: 0, serverErrors: 0, timeouts: 0, qps: 0, latencyMs: { p50: 0, p90: 0, p99: 0 } };

// The counters of one selection: node "*" or a name, fn "*" or "service/function". One function
// on all nodes sums the nodes' counters; its latency is the highest node's (percentiles of
// different nodes do not add up).
function pick(stats, node, fn) {
    if (!stats) return null;
    if (node === '*' && fn === '*') return stats.total || null;
    const nodes = (stats.nodes || []).filter((n) => node === '*' || n.node === node);
    if (fn === '*') return nodes.length ? nodes[0].total : null;
    const [svc, f] = fn.split('/');
    const found = [];
    for (const n of nodes)
        for (const s of n.services || []) if (s.service === svc) for (const x of s.functions || []) if (x.function === f) found.push(x);
    if (!found.length) return null;
    if (found.length === 1) return found[0];
    const sum = { ...ZERO, latencyMs: { p50: 0, p90: 0, p99: 0 } };
    for (const x of found) {
        for (const k of ['requests', 'success', 'clientErrors', 'serverErrors', 'timeouts', 'qps']) sum[k] += x[k] || 0;
        for (const k of ['p50', 'p90', 'p99']) if (x.requests > 0) sum.latencyMs[k] = Math.max(sum.latencyMs[k], x.latencyMs[k]);
    }
    return sum;
}

function statsKeys(stats) {
    const nodes = new Set();
    const fns = new Set();
    for (const n of (stats && stats.nodes) || []) {
        nodes.add(n.node);
        for (const s of n.services || []) for (const f of s.functions || []) fns.add(`${s.service}/${f.function}`);
    }
    return { nodes, fns };
}

function qpsSection(name, status) {
    const st = {
        node: '*',
        fn: '*',
        window: WINDOWS[0],
        samples: new Map(), // "node|fn" -> [{ts, rps, fps, p99}]
        nodes: new Set((status.nodes || []).map((n) => n.node)),
        fns: new Set(),
        last: null,
    };
    const nodeSel = h('select', { id: 'qps-node', 'data-testid': 'qps-node' });
    const fnSel = h('select', { id: 'qps-function', 'data-testid': 'qps-function' });
    const winSel = h(
        'select',
        { id: 'qps-window', 'data-testid': 'qps-window' },
        WINDOWS.map((w) => h('option', { value: String(w), selected: w === st.window }, windowText(w)))
    );
    const note = h('p', { class: 'muted', 'data-testid': 'qps-note', hidden: true });
    const charts = h('div', { class: 'charts' });
    const help = h('p', { class: 'help' });
    const totals = h('dl', { class: 'props qps-totals', 'data-testid': 'qps-totals' });
    const section = h(
        'section',
        { class: 'card', 'data-testid': 'qps-chart', 'aria-labelledby': 'qps-title' },
        h('h2', { id: 'qps-title' }, t('detail.qps')),
        h(
            'div',
            { class: 'toolbar' },
            h('label', { for: 'qps-node' }, t('detail.qps.node')),
            nodeSel,
            h('label', { for: 'qps-function' }, t('detail.qps.function')),
            fnSel,
            h('label', { for: 'qps-window' }, t('detail.qps.window')),
            winSel
        ),
        note,
        charts,
        help,
        h('h3', {}, t('detail.qps.totals')),
        totals
    );

    function fillSelect(sel, values, allKey, current) {
        const want = ['*', ...[...values].sort()];
        const have = [...sel.options].map((o) => o.value);
        if (want.join('\n') === have.join('\n')) return;
        clear(sel, want.map((v) => h('option', { value: v, selected: v === current }, v === '*' ? t(allKey) : v)));
    }

    function record(sample, now) {
        const { nodes, fns } = statsKeys(sample);
        nodes.forEach((n) => st.nodes.add(n));
        fns.forEach((f) => st.fns.add(f));
        const keys = ['*|*'];
        for (const n of st.nodes) keys.push(`${n}|*`);
        for (const f of st.fns) {
            keys.push(`*|${f}`);
            for (const n of st.nodes) keys.push(`${n}|${f}`);
        }
        const w = (sample && sample.window) || SAMPLE_WINDOW;
        for (const key of keys) {
            const [n, f] = key.split('|');
            const c = pick(sample, n, f) || ZERO;
            const arr = st.samples.get(key) || [];
            arr.push({ ts: now, rps: c.requests / w, fps: (c.requests - c.success) / w, p99: c.requests > 0 ? c.latencyMs.p99 : null });
            while (arr.length && arr[0].ts < now - WINDOWS[WINDOWS.length - 1] * 1000) arr.shift();
            st.samples.set(key, arr);
        }
    }

    function draw() {
        const stats = st.last;
        const now = Date.now();
        const xMin = now - st.window * 1000;
        const key = `${st.node}|${st.fn}`;
        const samples = (st.samples.get(key) || []).filter((p) => p.ts >= xMin);
        const fleet = st.node === '*' && st.fn === '*';
        let reqPts;
        if (fleet && stats) {
            // The server's per-slot series, less the slot still filling.
            const slot = (stats.interval || 10) * 1000;
            reqPts = (stats.series || []).filter((p) => p.ts + slot <= now).map((p) => [p.ts + slot, p.qps]);
        } else reqPts = samples.map((p) => [p.ts, p.rps]);
        const rates = [
            { name: t('detail.qps.requests'), cls: 's0', points: reqPts },
            { name: t('detail.qps.failures'), cls: 's1', points: samples.map((p) => [p.ts, p.fps]) },
        ];
        const lat = [{ name: t('detail.qps.p99'), cls: 's2', points: samples.map((p) => [p.ts, p.p99]) }];
        // viewBox width = the box's width, so text is drawn at its size (two columns from 776 px,
        // as .charts lays them out; before the page is attached, guess from the window).
        const base = charts.clientWidth || Math.min(window.innerWidth, 1400) - 70;
        const width = Math.max(320, Math.round(base >= 776 ? (base - 16) / 2 : base));
        const chart = (title, series) =>
            h(
                'figure',
                { class: 'chart-box' },
                h('figcaption', {}, title),
                lineChart(series, { title, width, height: 240, xMin, xMax: now }),
                chartLegend(series),
                chartTable(series, { title })
            );
        clear(charts, chart(t('detail.qps.rates'), rates), chart(t('detail.qps.latency'), lat));
        help.textContent = fleet ? t('detail.qps.help.fleet') : t('detail.qps.help.sampled');

        const c = pick(stats, st.node, st.fn) || ZERO;
        const fmt = (v) => (Math.round(v * 100) / 100).toString();
        const row = (k, v) => [h('dt', {}, t(`detail.qps.t.${k}`)), h('dd', { 'data-total': k }, v)];
        clear(
            totals,
            row('requests', String(c.requests)),
            row('success', String(c.success)),
            row('clientErrors', String(c.clientErrors)),
            row('serverErrors', String(c.serverErrors)),
            row('timeouts', String(c.timeouts)),
            row('qps', fmt(c.qps)),
            row('latency', `${fmt(c.latencyMs.p50)} / ${fmt(c.latencyMs.p90)} / ${fmt(c.latencyMs.p99)}`)
        );
        const noCalls = !stats || !stats.total || stats.total.requests === 0;
        note.hidden = !noCalls;
        note.textContent = noCalls ? t('detail.qps.nocalls', { window: windowText(st.window) }) : '';
    }

    async function refresh() {
        const [stats, sample] = await Promise.all([
            api('GET', `/apps/${encodeURIComponent(name)}/stats?window=${st.window}`),
            api('GET', `/apps/${encodeURIComponent(name)}/stats?window=${SAMPLE_WINDOW}`),
        ]);
        if (stats && stats.monitorQps === false) {
            // A function app without monitorQps: the nodes count nothing.
            clear(section, h('h2', { id: 'qps-title' }, t('detail.qps')), h('p', { class: 'muted', 'data-testid': 'qps-note' }, t('detail.qps.off')));
            return false;
        }
        st.last = stats;
        record(sample, Date.now());
        statsKeys(stats).nodes.forEach((n) => st.nodes.add(n));
        statsKeys(stats).fns.forEach((f) => st.fns.add(f));
        fillSelect(nodeSel, st.nodes, 'detail.qps.all.nodes', st.node);
        fillSelect(fnSel, st.fns, 'detail.qps.all.functions', st.fn);
        draw();
        return true;
    }

    nodeSel.addEventListener('change', () => {
        st.node = nodeSel.value;
        draw();
    });
    fnSel.addEventListener('change', () => {
        st.fn = fnSel.value;
        draw();
    });
    winSel.addEventListener('change', async () => {
        st.window = parseInt(winSel.value, 10);
        try {
            await refresh();
        } catch (e) {
            toast(e.message, 'error');
        }
    });
    return { section, refresh, draw };
}

// ---- the page -------------------------------------------------------------------------------

const NODE_PAGE = 100;

route(
    '#/apps/:name',
    async (view, params) => {
        const name = params.name;
        const path = `/apps/${encodeURIComponent(name)}`;
        // The node rows a page at a time: at 10,000 nodes the whole view is ~11 MB.
        const nodeState = { page: 1 };
        const statusPath = () => `${path}/status?page=${nodeState.page}&pageSize=${NODE_PAGE}`;
        const [app0, status0] = await Promise.all([api('GET', path), api('GET', statusPath())]);
        let app = app0;

        const specBox = h('div', {}, specProps(app, status0.summary));
        const counters = h('div', { 'data-testid': 'detail-counters', 'aria-live': 'polite' });
        const tbody = h('tbody');
        const errLine = h('p', { class: 'error', role: 'alert', hidden: true });
        const table = h(
            'table',
            { class: 'data', 'data-testid': 'deploy-table' },
            h('caption', { class: 'visually-hidden' }, t('detail.deployment')),
            tableHead(['node', 'version', 'phase', 'message', 'updated', 'containers'].map((c) => [t(`detail.col.${c}`), c === 'version' ? 'num' : ''])),
            tbody
        );

        async function remove() {
            if (!(await confirmDialog(t('detail.delete.confirm', { name }), t('detail.delete.ok', { name })))) return;
            try {
                await api('DELETE', path);
                toast(t('detail.deleted', { name }), 'ok');
                go('#/apps');
            } catch (e) {
                toast(t('detail.delete.failed', { name, error: e.message }), 'error');
            }
        }

        let countersSig = '';
        function showStatus(status) {
            const sig = JSON.stringify([status.summary, document.documentElement.lang]);
            if (sig !== countersSig) clear(counters, detailCounters(status.summary));
            countersSig = sig;
            deployRows(tbody, status);
            const pages = Math.max(1, Math.ceil((status.total || 0) / NODE_PAGE));
            pager.show(pages, t('detail.nodes.page', { page: nodeState.page, pages, total: status.total || 0 }));
            pagerNav.hidden = pages <= 1 && nodeState.page === 1;
        }

        // The status now; a page past the last (nodes went away) moves to the last one. seq drops
        // an answer that a newer request overtook (a click during the 2 s refresh).
        let seq = 0;
        async function loadStatus() {
            const mine = ++seq;
            let status = await api('GET', statusPath());
            const pages = Math.max(1, Math.ceil((status.total || 0) / NODE_PAGE));
            if (nodeState.page > pages) {
                nodeState.page = pages;
                status = await api('GET', statusPath());
            }
            if (mine === seq) showStatus(status);
            return status;
        }
        const pager = pagerParts('deploy', nodeState, () => loadStatus());
        const pagerNav = h('nav', { class: 'pager', 'aria-label': t('detail.nodes.pager') }, pager.prev, pager.info, pager.next);

        view.append(
            h(
                'div',
                { class: 'toolbar' },
                h('h1', { class: 'grow' }, t('detail.title', { name })),
                h('a', { href: `#/apps/${encodeURIComponent(name)}/edit`, class: 'button secondary', 'data-testid': 'detail-edit' }, t('detail.edit')),
                h('button', { type: 'button', class: 'danger', 'data-testid': 'detail-delete', onclick: remove }, t('detail.delete'))
            ),
            h('section', { class: 'card', 'aria-labelledby': 'spec-title' }, h('h2', { id: 'spec-title' }, t('detail.spec')), specBox),
            h(
                'section',
                { class: 'deploy-section', 'aria-labelledby': 'deploy-title' },
                h('div', { class: 'toolbar' }, h('h2', { id: 'deploy-title', class: 'grow' }, t('detail.deployment')), counters),
                errLine,
                h('div', { class: 'table-wrap' }, table),
                pagerNav
            )
        );
        showStatus(status0);

        const stops = [];
        stops.push(
            every(2000, async () => {
                try {
                    const status = await loadStatus();
                    errLine.hidden = true;
                    if (status.version !== app.version) {
                        app = await api('GET', path); // edited elsewhere: the spec changed
                        clear(specBox, specProps(app, status.summary));
                    } else freshAges(specBox);
                } catch (e) {
                    errLine.textContent = t('detail.refresh.failed', { error: e.message });
                    errLine.hidden = false;
                    throw e;
                }
            })
        );

        if (app.monitorQps || app.type === 'function') {
            const qps = qpsSection(name, status0);
            view.append(qps.section);
            let on = true;
            try {
                on = await qps.refresh();
            } catch (e) {
                console.info('console: stats', e.message);
            }
            if (on) stops.push(every(5000, qps.refresh));
        }
        return () => stops.forEach((s) => s());
    },
    { nav: 'apps' }
);
