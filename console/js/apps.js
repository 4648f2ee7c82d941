// The apps list: #/apps?q=TEXT&type=all|container|function&page=N&pageSize=10|20|50 (the state
// lives in the hash query, so a reload or a shared link keeps it; typing and paging rewrite it with
// history.replaceState, which does not re-render the page). Refreshed every 5 s.
//
// Test hooks (kept stable for tests/e2e/test_console.py):
//   search input          data-testid="apps-search"     (the API's name filter: the names that
//                                                        contain the text, case-insensitive)
//   type filter <select>  data-testid="apps-type"       (all | container | function)
//   page size <select>    data-testid="apps-page-size"  (10 | 20 | 50)
//   pager                 data-testid="apps-prev", "apps-next", "apps-page" (the "page X of Y" text),
//                         "apps-total"
//   create link           data-testid="apps-create"     (#/new)
//   the table             data-testid="apps-table"; each row <tr data-app="NAME"> with cells
//                         data-col="name|type|version|labels|selector|counters|state|age";
//                         the counters cell holds <span data-counter="targeted|running|failed|
//                         notReporting" data-value="N">
//   delete button         data-testid="delete-NAME" (opens the confirm dialog naming the app)
import { addStrings, age, api, apiAll, confirmDialog, every, h, labelChips, onTyping, pagerParts, route, selectorText, t, tableHead, toast } from './core.js';

addStrings({
    en: {
        'apps.title': 'Applications',
        'apps.create': 'Create app',
        'apps.search': 'Search by name',
        'apps.search.placeholder': 'Name contains…',
        'apps.type': 'Type',
        'apps.type.all': 'All types',
        'apps.type.container': 'Container',
        'apps.type.function': 'Function',
        'apps.pageSize': 'Per page',
        'apps.page': 'Page {page} of {pages}',
        'apps.total': '{n} apps',
        'apps.total.one': '1 app',
        'apps.col.name': 'Name',
        'apps.col.type': 'Type',
        'apps.col.version': 'Version',
        'apps.col.labels': 'Labels',
        'apps.col.selector': 'Target nodes',
        'apps.col.counters': 'Nodes',
        'apps.col.state': 'Deploy state',
        'apps.col.age': 'Age',
        'apps.col.actions': 'Actions',
        'apps.counter.targeted': 'targeted {n}',
        'apps.counter.running': 'running {n}',
        'apps.counter.failed': 'failed {n}',
        'apps.counter.notReporting': 'not reporting {n}',
        'apps.counter.unknown': 'status unavailable',
        'apps.state.Scheduled': 'Scheduled',
        'apps.state.Active': 'Active',
        'apps.state.Deploying': 'Deploying',
        'apps.state.Deployed': 'Deployed',
        'apps.state.Deleted': 'Deleted',
        'apps.delete': 'Delete',
        'apps.delete.label': 'Delete app {name}',
        'apps.delete.confirm': 'Delete app {name}? Every node removes its containers. This cannot be undone.',
        'apps.delete.ok': 'Delete {name}',
        'apps.deleted': 'App {name} deleted.',
        'apps.delete.failed': 'Could not delete app {name}: {error}',
        'apps.empty': 'No apps yet. Create one to deploy it to your nodes.',
        'apps.empty.filtered': 'No apps match this search.',
        'apps.refresh.failed': 'Could not refresh the list: {error}',
    },
    zh: {
        'apps.title': '应用',
        'apps.create': '创建应用',
        'apps.search': '按名称搜索',
        'apps.search.placeholder': '名称包含…',
        'apps.type': '类型',
        'apps.type.all': '全部类型',
        'apps.type.container': '容器',
        'apps.type.function': '函数',
        'apps.pageSize': '每页',
        'apps.page': '第 {page} 页，共 {pages} 页',
        'apps.total': '共 {n} 个应用',
        'apps.total.one': '共 1 个应用',
        'apps.col.name': '名称',
        'apps.col.type': '类型',
        'apps.col.version': '版本',
        'apps.col.labels': '标签',
        'apps.col.selector': '目标节点',
        'apps.col.counters': '节点',
        'apps.col.state': '部署状态',
        'apps.col.age': '创建时长',
        'apps.col.actions': '操作',
        'apps.counter.targeted': '目标 {n}',
        'apps.counter.running': '运行 {n}',
        'apps.counter.failed': '失败 {n}',
        'apps.counter.notReporting': '未上报 {n}',
        'apps.counter.unknown': '状态不可用',
        'apps.state.Scheduled': '已计划',
        'apps.state.Active': '生效',
        'apps.state.Deploying': '部署中',
        'apps.state.Deployed': '已部署',
        'apps.state.Deleted': '已删除',
        'apps.delete': '删除',
        'apps.delete.label': '删除应用 {name}',
        'apps.delete.confirm': '删除应用 {name}？所有节点都会移除它的容器。此操作无法撤销。',
        'apps.delete.ok': '删除 {name}',
        'apps.deleted': '应用 {name} 已删除。',
        'apps.delete.failed': '无法删除应用 {name}：{error}',
        'apps.empty': '还没有应用。创建一个应用以部署到节点。',
        'apps.empty.filtered': '没有符合搜索条件的应用。',
        'apps.refresh.failed': '无法刷新列表：{error}',
    },
});

const PAGE_SIZES = [10, 20, 50];
const TYPES = ['all', 'container', 'function'];

// The badge class of a deploy state (the status summary's, else the app's own).
export function stateClass(state) {
    return { Deployed: 'ok', Active: 'ok', Deploying: 'info', Scheduled: 'warn', Deleted: 'bad' }[state] || 'info';
}

export function stateText(state) {
    return state ? t(`apps.state.${state}`) : '-';
}

// The fleet counters of a status summary as badges (also used by the detail page).
export function counterBadges(summary) {
    if (!summary) return h('span', { class: 'muted' }, t('apps.counter.unknown'));
    const c = (key, n, cls) => h('span', { class: `badge ${cls}`, 'data-counter': key, 'data-value': n }, t(`apps.counter.${key}`, { n }));
    return h(
        'span',
        { class: 'counters' },
        c('targeted', summary.targeted, 'info'),
        c('running', summary.running, summary.running > 0 ? 'ok' : ''),
        c('failed', summary.failed, summary.failed > 0 ? 'bad' : ''),
        c('notReporting', summary.notReporting, summary.notReporting > 0 ? 'warn' : '')
    );
}

// Updates tbody to one row per item without rebuilding rows that did not change (so the focus,
// a hovered row and a test's element references survive the live refresh): a row keeps its
// element while sigOf(item) is unchanged, and then only fresh(row, item) runs (ages); a changed
// item gets a new row from build(item). empty() is the row when there are no items.
export function patchRows(tbody, items, keyAttr, keyOf, sigOf, build, fresh, empty) {
    const old = new Map();
    for (const r of tbody.querySelectorAll(`:scope > tr[${keyAttr}]`)) old.set(r.getAttribute(keyAttr), r);
    const rows = items.map((it) => {
        const sig = sigOf(it);
        let r = old.get(keyOf(it));
        if (r && r.dataset.sig === sig) {
            if (fresh) fresh(r, it);
        } else {
            r = build(it);
            r.dataset.sig = sig;
        }
        return r;
    });
    if (!rows.length) rows.push(empty());
    rows.forEach((r, i) => {
        if (tbody.children[i] !== r) tbody.insertBefore(r, tbody.children[i] || null);
    });
    while (tbody.children.length > rows.length) tbody.lastElementChild.remove();
}

function intParam(v, dflt, ok) {
    const n = parseInt(v, 10);
    return Number.isFinite(n) && ok(n) ? n : dflt;
}

route(
    '#/apps',
    async (view, params) => {
        const q = params.query;
        const state = {
            q: q.get('q') || '',
            type: TYPES.includes(q.get('type')) ? q.get('type') : 'all',
            page: intParam(q.get('page'), 1, (n) => n >= 1),
            pageSize: intParam(q.get('pageSize'), 20, (n) => PAGE_SIZES.includes(n)),
        };

        // Writes the state into the hash without a hashchange (no re-render, focus stays).
        const saveState = () => {
            const p = new URLSearchParams();
            if (state.q) p.set('q', state.q);
            if (state.type !== 'all') p.set('type', state.type);
            if (state.page > 1) p.set('page', String(state.page));
            if (state.pageSize !== 20) p.set('pageSize', String(state.pageSize));
            const hash = `#/apps${p.toString() ? `?${p}` : ''}`;
            if (location.hash !== hash) history.replaceState(history.state, '', hash);
        };

        const search = h('input', {
            id: 'apps-search',
            type: 'search',
            value: state.q,
            placeholder: t('apps.search.placeholder'),
            autocomplete: 'off',
            spellcheck: 'false',
            'data-testid': 'apps-search',
        });
        const typeSel = h(
            'select',
            { id: 'apps-type', 'data-testid': 'apps-type' },
            TYPES.map((ty) => h('option', { value: ty, selected: ty === state.type }, t(`apps.type.${ty}`)))
        );
        const sizeSel = h(
            'select',
            { id: 'apps-page-size', 'data-testid': 'apps-page-size' },
            PAGE_SIZES.map((n) => h('option', { value: String(n), selected: n === state.pageSize }, String(n)))
        );
        const { prev, next } = pagerParts('apps');
        const pageText = h('span', { 'data-testid': 'apps-page', 'aria-live': 'polite' });
        const totalText = h('span', { class: 'muted', 'data-testid': 'apps-total' });
        const errLine = h('p', { class: 'error', role: 'alert', 'data-testid': 'apps-error', hidden: true });

        const tbody = h('tbody');
        const table = h(
            'table',
            { class: 'data apps-table', 'data-testid': 'apps-table' },
            h('caption', { class: 'visually-hidden' }, t('apps.title')),
            tableHead([
                [t('apps.col.name')],
                [t('apps.col.type')],
                [t('apps.col.version'), 'num'],
                [t('apps.col.labels')],
                [t('apps.col.selector')],
                [t('apps.col.counters')],
                [t('apps.col.state')],
                [t('apps.col.age')],
                [h('span', { class: 'visually-hidden' }, t('apps.col.actions'))],
            ]),
            tbody
        );

        view.append(
            h(
                'div',
                { class: 'toolbar' },
                h('h1', { class: 'grow' }, t('apps.title')),
                h('a', { href: '#/new', class: 'button', 'data-testid': 'apps-create' }, t('apps.create'))
            ),
            h(
                'div',
                { class: 'toolbar', role: 'search' },
                h('label', { for: 'apps-search' }, t('apps.search')),
                search,
                h('label', { for: 'apps-type' }, t('apps.type')),
                typeSel,
                h('span', { class: 'grow' }),
                totalText
            ),
            errLine,
            h('div', { class: 'table-wrap' }, table),
            h('div', { class: 'pager' }, h('label', { for: 'apps-page-size' }, t('apps.pageSize')), sizeSel, prev, pageText, next)
        );

        let seq = 0;
        let pages = 1;

        // One page of apps with each one's status summary. The API filters by name only; the type
        // filter has no query parameter, so with a type chosen the list is read whole (by name)
        // and filtered and paged here, so that paging stays right.
        async function fetchPage() {
            const nameQ = state.q ? `name=${encodeURIComponent(state.q)}` : '';
            let items;
            let total;
            if (state.type === 'all') {
                const r = await api('GET', `/apps?page=${state.page}&pageSize=${state.pageSize}${nameQ ? `&${nameQ}` : ''}`);
                items = r.items || [];
                total = r.total || 0;
            } else {
                const matching = (await apiAll(`/apps${nameQ ? `?${nameQ}` : ''}`)).filter((a) => (a.type || 'container') === state.type);
                total = matching.length;
                items = matching.slice((state.page - 1) * state.pageSize, state.page * state.pageSize);
            }
            const statuses = await Promise.all(
                items.map((a) => api('GET', `/apps/${encodeURIComponent(a.name)}/status?pageSize=0`).catch(() => null))
            );
            return { items, total, statuses };
        }

        function row(app, status) {
            const name = app.name;
            const summary = status && status.summary;
            const deployState = (summary && summary.deployState) || app.deployState;
            const type = app.type || 'container';
            return h(
                'tr',
                { 'data-app': name },
                h('td', { 'data-col': 'name' }, h('a', { href: `#/apps/${encodeURIComponent(name)}` }, name)),
                h('td', { 'data-col': 'type' }, h('span', { class: `badge ${type === 'function' ? 'info' : ''}`, 'data-type': type }, t(`apps.type.${type}`))),
                h('td', { 'data-col': 'version', class: 'num' }, String(app.version)),
                h('td', { 'data-col': 'labels' }, labelChips(app.labels)),
                h('td', { 'data-col': 'selector' }, h('span', { class: 'mono' }, selectorText(app.selector))),
                h('td', { 'data-col': 'counters' }, counterBadges(summary)),
                h('td', { 'data-col': 'state' }, h('span', { class: `badge ${stateClass(deployState)}`, 'data-state': deployState || '' }, stateText(deployState))),
                h('td', { 'data-col': 'age', title: app.createdAt || '' }, age(app.createdAt)),
                h(
                    'td',
                    { class: 'actions-cell' },
                    h(
                        'button',
                        { type: 'button', class: 'danger small', 'data-testid': `delete-${name}`, 'aria-label': t('apps.delete.label', { name }), onclick: () => remove(name) },
                        t('apps.delete')
                    )
                )
            );
        }

        async function load() {
            const mine = ++seq;
            const { items, total, statuses } = await fetchPage();
            if (mine !== seq) return; // a newer load (typing, paging) started meanwhile
            pages = Math.max(1, Math.ceil(total / state.pageSize));
            if (state.page > pages) {
                // The page emptied (deletes, a narrower search): show the last one instead.
                state.page = pages;
                saveState();
                return load();
            }
            errLine.hidden = true;
            const emptyKey = state.q || state.type !== 'all' ? 'apps.empty.filtered' : 'apps.empty';
            patchRows(
                tbody,
                items.map((a, i) => [a, statuses[i]]),
                'data-app',
                ([a]) => a.name,
                ([a, st]) => JSON.stringify([a, st && st.summary, document.documentElement.lang]),
                ([a, st]) => row(a, st),
                (r, [a]) => {
                    const cell = r.querySelector('td[data-col=age]');
                    if (cell) cell.textContent = age(a.createdAt);
                },
                () => h('tr', {}, h('td', { colspan: 9, class: 'empty', 'data-testid': 'apps-empty' }, t(emptyKey)))
            );
            pageText.textContent = t('apps.page', { page: state.page, pages });
            totalText.textContent = total === 1 ? t('apps.total.one') : t('apps.total', { n: total });
            const had = document.activeElement;
            prev.disabled = state.page <= 1;
            next.disabled = state.page >= pages;
            // A pager button that just got disabled hands the focus to the other one.
            if (had === prev && prev.disabled && !next.disabled) next.focus();
            if (had === next && next.disabled && !prev.disabled) prev.focus();
        }

        // Reloads now and reports a failure in the page (the 5 s refresh retries quietly).
        async function reload() {
            saveState();
            try {
                await load();
            } catch (e) {
                errLine.textContent = t('apps.refresh.failed', { error: e.message });
                errLine.hidden = false;
            }
        }

        async function remove(name) {
            if (!(await confirmDialog(t('apps.delete.confirm', { name }), t('apps.delete.ok', { name })))) return;
            try {
                await api('DELETE', `/apps/${encodeURIComponent(name)}`);
                toast(t('apps.deleted', { name }), 'ok');
            } catch (e) {
                toast(t('apps.delete.failed', { name, error: e.message }), 'error');
            }
            await reload();
            if (!tbody.contains(document.activeElement)) search.focus();
        }

        const cancelTyping = onTyping(search, 250, (value) => {
            const v = value.trim();
            if (v === state.q) return;
            state.q = v;
            state.page = 1;
            reload();
        });
        typeSel.addEventListener('change', () => {
            state.type = typeSel.value;
            state.page = 1;
            reload();
        });
        sizeSel.addEventListener('change', () => {
            // Keep the first app of the current page in view.
            const first = (state.page - 1) * state.pageSize;
            state.pageSize = parseInt(sizeSel.value, 10);
            state.page = Math.floor(first / state.pageSize) + 1;
            reload();
        });
        prev.addEventListener('click', () => {
            if (state.page > 1) {
                state.page--;
                reload();
            }
        });
        next.addEventListener('click', () => {
            if (state.page < pages) {
                state.page++;
                reload();
            }
        });

        await load(); // the first load's failure is the page's error
        saveState();
        const stop = every(5000, load);
        return () => {
            stop();
            cancelTyping();
        };
    },
    { nav: 'apps' }
);
