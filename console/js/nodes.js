// Nodes: the list (#/nodes: paging, name search as you type, register form, refresh every 5 s) and
// a node's page (#/nodes/:name: properties, label editing, the apps on it refreshed every 2 s,
// enrollment token, delete). API: GET/POST /nodes, GET/PUT/DELETE /nodes/{name},
// GET /nodes/{name}/apps, POST /nodes/{name}/enroll (schema/openapi.yaml, NodeView, NodeApps).
//
// Test hooks (data-testid unless said otherwise):
//   list:   nodes-search, nodes-table, rows <tr data-node="NAME"> with cells
//           data-col="name|labels|online|gpu|apps|age", nodes-prev, nodes-next, nodes-page,
//           register form: register-name (f-name), f-labels[i].key, f-labels[i].value,
//           add-label, remove-label-i, register-node, nodes-error
//   detail: <h1> holds the name, node-online, node-gpu, node-props,
//           label rows f-labels[i].key / f-labels[i].value, add-label, remove-label-i,
//           save-labels, labels-saved (the apps that target the node after a save),
//           node-apps-table rows <tr data-app="APP"> with cells
//           data-col="app|version|phase|message|containers", node-delete, node-enroll,
//           enroll-token (read-only input holding the one-time token), enroll-copy
import { addStrings, age, api, ApiError, clearFieldErrors, confirmDialog, every, go, h, clear, route, showFieldError, t, toast, labelChips, pagerParts, tableHead, onTyping } from './core.js';

addStrings({
    en: {
        'nodes.title': 'Nodes',
        'nodes.search': 'Search by name',
        'nodes.col.name': 'Name',
        'nodes.col.labels': 'Labels',
        'nodes.col.online': 'Status',
        'nodes.col.gpu': 'GPU',
        'nodes.col.apps': 'Apps',
        'nodes.col.age': 'Age',
        'nodes.online': 'online',
        'nodes.offline': 'offline',
        'nodes.notEnrolled': 'not enrolled',
        'nodes.none': 'No nodes.',
        'nodes.noneMatch': 'No node matches “{q}”.',
        'nodes.page': 'Page {page} of {pages} ({total} nodes)',
        'nodes.pager': 'Pages',
        'nodes.gpu.sharing': 'shared',
        'nodes.gpu.exclusive': 'not shared',
        'nodes.gpu.device': '#{index} {model} ({mem} MiB)',
        'nodes.gpu.devices': '{n} devices',
        'nodes.register.title': 'Register a node',
        'nodes.register.help': 'Registering creates the node record; then issue its one-time enrollment token on the node\'s page and start edge-sync with it.',
        'nodes.register.submit': 'Register node',
        'nodes.register.done': 'Node {name} registered.',
        'nodes.name': 'Name',
        'nodes.name.help': 'A DNS label: lowercase letters, digits and "-".',
        'nodes.labels': 'Labels',
        'nodes.labels.help': 'Apps choose nodes by these labels (their selector).',
        'nodes.label.key': 'Key',
        'nodes.label.value': 'Value',
        'nodes.label.keyN': 'Label {n} key',
        'nodes.label.valueN': 'Label {n} value',
        'nodes.label.add': 'Add label',
        'nodes.label.remove': 'Remove',
        'nodes.label.removeN': 'Remove label {n}',
        'nodes.label.none': 'No labels.',
        'nodes.label.dup': 'The key {key} is used twice.',
        'nodes.label.emptyKey': 'Enter a key, or remove the row.',
        'nodes.labels.save': 'Save labels',
        'nodes.labels.saved': 'Labels saved.',
        'nodes.labels.targets': 'Apps on this node now: {apps}.',
        'nodes.labels.targetsNone': 'No app targets this node now.',
        'nodes.props': 'Properties',
        'nodes.prop.status': 'Status',
        'nodes.prop.enrolled': 'Enrolled',
        'nodes.prop.enrolledAt': 'Enrolled at',
        'nodes.prop.created': 'Registered',
        'nodes.prop.updated': 'Updated',
        'nodes.prop.gpu': 'GPU',
        'nodes.prop.namespace': 'Namespace',
        'nodes.yes': 'yes',
        'nodes.no': 'no',
        'nodes.ago': '{when} ({age} ago)',
        'nodes.apps.title': 'Apps on this node',
        'nodes.apps.none': 'No app targets this node or runs on it.',
        'nodes.apps.app': 'App',
        'nodes.apps.version': 'Version (applied / latest)',
        'nodes.apps.phase': 'Phase',
        'nodes.apps.message': 'Message',
        'nodes.apps.containers': 'Containers',
        'nodes.apps.container': '{name}: {state}, {restarts} restarts, exit {exit}',
        'nodes.apps.notReported': 'not reported',
        'nodes.apps.outdated': 'not the latest version',
        'nodes.enroll': 'Issue enrollment token',
        'nodes.enroll.title': 'Enrollment token',
        'nodes.enroll.label': 'One-time enrollment token',
        'nodes.enroll.note': 'Shown only now: copy it and give it to the node (edge-sync --enroll). It works once and expires {when}. Issuing another token replaces it.',
        'nodes.enroll.copy': 'Copy',
        'nodes.enroll.copied': 'Token copied.',
        'nodes.delete': 'Delete node',
        'nodes.delete.confirm': 'Delete node {name}? Its broker credential is revoked and the apps on it are no longer managed.',
        'nodes.delete.ok': 'Delete {name}',
        'nodes.deleted': 'Node {name} deleted.',
        'nodes.back': 'All nodes',
        'nodes.refreshed': 'Refreshed {time}',
    },
    zh: {
        'nodes.title': '节点',
        'nodes.search': '按名称搜索',
        'nodes.col.name': '名称',
        'nodes.col.labels': '标签',
        'nodes.col.online': '状态',
        'nodes.col.gpu': 'GPU',
        'nodes.col.apps': '应用数',
        'nodes.col.age': '存在时间',
        'nodes.online': '在线',
        'nodes.offline': '离线',
        'nodes.notEnrolled': '未注册接入',
        'nodes.none': '没有节点。',
        'nodes.noneMatch': '没有名称包含“{q}”的节点。',
        'nodes.page': '第 {page} / {pages} 页（共 {total} 个节点）',
        'nodes.pager': '分页',
        'nodes.gpu.sharing': '共享',
        'nodes.gpu.exclusive': '不共享',
        'nodes.gpu.device': '#{index} {model}（{mem} MiB）',
        'nodes.gpu.devices': '{n} 个设备',
        'nodes.register.title': '登记节点',
        'nodes.register.help': '登记会创建节点记录；然后在节点页面签发一次性接入令牌，并用它启动 edge-sync。',
        'nodes.register.submit': '登记节点',
        'nodes.register.done': '节点 {name} 已登记。',
        'nodes.name': '名称',
        'nodes.name.help': 'DNS 标签：小写字母、数字和“-”。',
        'nodes.labels': '标签',
        'nodes.labels.help': '应用通过这些标签（其选择器）选择节点。',
        'nodes.label.key': '键',
        'nodes.label.value': '值',
        'nodes.label.keyN': '标签 {n} 的键',
        'nodes.label.valueN': '标签 {n} 的值',
        'nodes.label.add': '添加标签',
        'nodes.label.remove': '删除',
        'nodes.label.removeN': '删除标签 {n}',
        'nodes.label.none': '没有标签。',
        'nodes.label.dup': '键 {key} 重复。',
        'nodes.label.emptyKey': '请输入键，或删除此行。',
        'nodes.labels.save': '保存标签',
        'nodes.labels.saved': '标签已保存。',
        'nodes.labels.targets': '现在此节点上的应用：{apps}。',
        'nodes.labels.targetsNone': '现在没有应用以此节点为目标。',
        'nodes.props': '属性',
        'nodes.prop.status': '状态',
        'nodes.prop.enrolled': '已接入',
        'nodes.prop.enrolledAt': '接入时间',
        'nodes.prop.created': '登记时间',
        'nodes.prop.updated': '更新时间',
        'nodes.prop.gpu': 'GPU',
        'nodes.prop.namespace': '命名空间',
        'nodes.yes': '是',
        'nodes.no': '否',
        'nodes.ago': '{when}（{age}前）',
        'nodes.apps.title': '此节点上的应用',
        'nodes.apps.none': '没有应用以此节点为目标或在其上运行。',
        'nodes.apps.app': '应用',
        'nodes.apps.version': '版本（已应用 / 最新）',
        'nodes.apps.phase': '阶段',
        'nodes.apps.message': '消息',
        'nodes.apps.containers': '容器',
        'nodes.apps.container': '{name}：{state}，重启 {restarts} 次，退出码 {exit}',
        'nodes.apps.notReported': '未上报',
        'nodes.apps.outdated': '不是最新版本',
        'nodes.enroll': '签发接入令牌',
        'nodes.enroll.title': '接入令牌',
        'nodes.enroll.label': '一次性接入令牌',
        'nodes.enroll.note': '只显示这一次：请复制并交给节点（edge-sync --enroll）。令牌只能使用一次，于 {when} 过期。再次签发会使其失效。',
        'nodes.enroll.copy': '复制',
        'nodes.enroll.copied': '令牌已复制。',
        'nodes.delete': '删除节点',
        'nodes.delete.confirm': '删除节点 {name}？其消息代理凭据将被吊销，其上的应用不再受管理。',
        'nodes.delete.ok': '删除 {name}',
        'nodes.deleted': '节点 {name} 已删除。',
        'nodes.back': '所有节点',
        'nodes.refreshed': '刷新于 {time}',
    },
});

const PAGE_SIZE = 20;
const enc = encodeURIComponent;

// ---- shared pieces --------------------------------------------------------------------------

function onlineBadge(node, testid) {
    if (node.online) return h('span', { class: 'badge ok', 'data-testid': testid }, t('nodes.online'));
    if (node.enrolled === false) return h('span', { class: 'badge', 'data-testid': testid }, t('nodes.notEnrolled'));
    return h('span', { class: 'badge bad', 'data-testid': testid }, t('nodes.offline'));
}

// The GPU a node reported: "shared · 1 × #0 model (N MiB)", '-' when it reported none.
function gpuText(gpu) {
    if (!gpu) return '-';
    const devs = gpu.devices || [];
    const share = gpu.sharing ? t('nodes.gpu.sharing') : t('nodes.gpu.exclusive');
    if (!devs.length) return share;
    if (devs.length > 2) return `${share} · ${t('nodes.gpu.devices', { n: devs.length })}`;
    return `${share} · ${devs.map((d) => t('nodes.gpu.device', { index: d.index, model: d.model, mem: d.memoryMiB })).join(', ')}`;
}

function gpuDetail(gpu) {
    if (!gpu) return '-';
    const devs = gpu.devices || [];
    return h(
        'div',
        {},
        h('span', { class: `badge ${gpu.sharing ? 'info' : ''}` }, gpu.sharing ? t('nodes.gpu.sharing') : t('nodes.gpu.exclusive')),
        devs.length ? h('ul', { class: 'nodes-gpu-list' }, devs.map((d) => h('li', {}, t('nodes.gpu.device', { index: d.index, model: d.model, mem: d.memoryMiB })))) : null
    );
}

function when(iso) {
    if (!iso) return '-';
    return t('nodes.ago', { when: new Date(iso).toLocaleString(), age: age(iso) });
}

// Key/value rows with add and remove; ids prefixed by idp. get() returns {labels} or
// {error: [index, message]}.
function labelsEditor(idp, initial) {
    const rows = h('div', { class: 'rows' });
    const box = h('fieldset', { 'data-field': 'labels', class: 'nodes-labels' }, h('legend', {}, t('nodes.labels')), h('p', { class: 'help' }, t('nodes.labels.help')), rows);
    const empty = h('p', { class: 'muted nodes-labels-empty' }, t('nodes.label.none'));
    let items = Object.entries(initial || {}).map(([k, v]) => ({ key: k, value: v }));

    function draw(focusIndex) {
        clear(rows);
        if (!items.length) rows.append(empty);
        items.forEach((it, i) => {
            const kid = `${idp}-lk-${i}`;
            const vid = `${idp}-lv-${i}`;
            const key = h('input', { id: kid, value: it.key, autocomplete: 'off', spellcheck: 'false', 'data-testid': `f-labels[${i}].key`, oninput: (e) => (it.key = e.target.value) });
            const val = h('input', { id: vid, value: it.value, autocomplete: 'off', spellcheck: 'false', 'data-testid': `f-labels[${i}].value`, oninput: (e) => (it.value = e.target.value) });
            rows.append(
                h(
                    'div',
                    { class: 'row', 'data-field': `labels[${i}]` },
                    h('div', { class: 'field' }, h('label', { for: kid }, t('nodes.label.key'), h('span', { class: 'visually-hidden' }, ` ${i + 1}`)), key),
                    h('div', { class: 'field' }, h('label', { for: vid }, t('nodes.label.value'), h('span', { class: 'visually-hidden' }, ` ${i + 1}`)), val),
                    h(
                        'button',
                        {
                            type: 'button',
                            class: 'secondary small',
                            'data-testid': `remove-label-${i}`,
                            'aria-label': t('nodes.label.removeN', { n: i + 1 }),
                            onclick: () => {
                                items.splice(i, 1);
                                draw(Math.min(i, items.length - 1));
                            },
                        },
                        t('nodes.label.remove')
                    )
                )
            );
            if (focusIndex === i) setTimeout(() => key.focus(), 0);
        });
    }
    draw();
    const add = h(
        'button',
        {
            type: 'button',
            class: 'secondary small',
            'data-testid': 'add-label',
            onclick: () => {
                items.push({ key: '', value: '' });
                draw(items.length - 1);
            },
        },
        t('nodes.label.add')
    );
    box.append(add);
    return {
        el: box,
        set(labels) {
            items = Object.entries(labels || {}).map(([k, v]) => ({ key: k, value: v }));
            draw();
        },
        get() {
            const labels = {};
            for (let i = 0; i < items.length; i++) {
                const k = items[i].key.trim();
                const v = items[i].value.trim();
                if (!k && !v) continue;
                if (!k) return { error: [i, t('nodes.label.emptyKey')] };
                if (k in labels) return { error: [i, t('nodes.label.dup', { key: k })] };
                labels[k] = v;
            }
            return { labels };
        },
        // The server names only "labels"; mark the row of the key its message quotes.
        markFromMessage(msg) {
            const m = /'([^']*)'/.exec(msg || '');
            if (!m) return;
            const i = items.findIndex((it) => it.key.trim() === m[1]);
            if (i >= 0) rows.querySelector(`[data-testid="f-labels[${i}].key"]`)?.setAttribute('aria-invalid', 'true');
        },
    };
}

// An error of a save: at its field when the server names one in the form, else a toast.
function showError(form, e, fallbackField) {
    if (e instanceof ApiError && e.field && showFieldError(form, e.field, e.message)) return;
    if (fallbackField && e instanceof ApiError && e.status === 409 && showFieldError(form, fallbackField, e.message)) return;
    toast(e.message, 'error');
}

// Rebuild a table body without losing keyboard focus on a link in it (the refresh every few
// seconds would otherwise drop it): the focused element's row and cell are found again.
// Nothing is rebuilt when sig (what the rows show) is unchanged, so rows stay the same elements.
const drawn = new WeakMap();
function redraw(tbody, rowAttr, rows, sig) {
    if (sig !== undefined && drawn.get(tbody) === sig) return;
    drawn.set(tbody, sig);
    const a = document.activeElement;
    let key = null;
    if (a && tbody.contains(a)) {
        const tr = a.closest('tr');
        const td = a.closest('td');
        key = tr && td ? [tr.getAttribute(rowAttr), td.getAttribute('data-col')] : null;
    }
    clear(tbody, rows);
    if (key) {
        const tr = [...tbody.rows].find((r) => r.getAttribute(rowAttr) === key[0]);
        tr?.querySelector(`td[data-col="${key[1]}"] a, td[data-col="${key[1]}"] button`)?.focus();
    }
}

// ---- the list -------------------------------------------------------------------------------

const listState = { page: 1, q: '' };

async function nodesPage(view) {
    const search = h('input', {
        id: 'nodes-search',
        type: 'search',
        value: listState.q,
        autocomplete: 'off',
        'data-testid': 'nodes-search',
        'aria-controls': 'nodes-table',
    });
    const tbody = h('tbody', {});
    const table = h(
        'table',
        { class: 'data', id: 'nodes-table', 'data-testid': 'nodes-table' },
        tableHead([
            [t('nodes.col.name')],
            [t('nodes.col.labels')],
            [t('nodes.col.online')],
            [t('nodes.col.gpu')],
            [t('nodes.col.apps'), 'num'],
            [t('nodes.col.age')],
        ]),
        tbody
    );
    const emptyEl = h('p', { class: 'empty', 'data-testid': 'nodes-empty', hidden: true });
    const pager = pagerParts('nodes', listState, () => load());
    const errEl = h('p', { class: 'error', role: 'alert', 'data-testid': 'nodes-error', hidden: true });
    let seq = 0;

    async function load() {
        const mine = ++seq;
        const q = listState.q.trim();
        let r;
        try {
            r = await api('GET', `/nodes?page=${listState.page}&pageSize=${PAGE_SIZE}${q ? `&name=${enc(q)}` : ''}`);
        } catch (e) {
            if (mine !== seq) return;
            errEl.textContent = e.message;
            errEl.hidden = false;
            throw e;
        }
        if (mine !== seq) return;
        const pages = Math.max(1, Math.ceil((r.total || 0) / PAGE_SIZE));
        if (listState.page > pages && r.total > 0) {
            listState.page = pages;
            return load();
        }
        const items = r.items || [];
        // The list has no app count: one GET /nodes/{name}/apps per visible row.
        const counts = await Promise.all(
            items.map((n) =>
                api('GET', `/nodes/${enc(n.name)}/apps`).then(
                    (a) => (a.apps || []).length,
                    () => null
                )
            )
        );
        if (mine !== seq) return;
        errEl.hidden = true;
        redraw(
            tbody,
            'data-node',
            items.map((n, i) =>
                h(
                    'tr',
                    { 'data-node': n.name },
                    h('td', { 'data-col': 'name' }, h('a', { href: `#/nodes/${enc(n.name)}` }, n.name)),
                    h('td', { 'data-col': 'labels' }, labelChips(n.labels)),
                    h('td', { 'data-col': 'online' }, onlineBadge(n)),
                    h('td', { 'data-col': 'gpu' }, gpuText(n.gpu)),
                    h('td', { 'data-col': 'apps', class: 'num' }, counts[i] === null ? '-' : String(counts[i])),
                    h('td', { 'data-col': 'age', title: n.createdAt || '' }, age(n.createdAt))
                )
            ),
            JSON.stringify([items, counts, items.map((n) => age(n.createdAt)), document.documentElement.lang])
        );
        emptyEl.hidden = items.length > 0;
        emptyEl.textContent = q ? t('nodes.noneMatch', { q }) : t('nodes.none');
        table.hidden = items.length === 0;
        pager.show(pages, t('nodes.page', { page: listState.page, pages, total: r.total || 0 }));
    }

    onTyping(search, 250, (q) => {
        listState.q = q;
        listState.page = 1;
        load().catch(() => {});
    });

    // Register form.
    const name = h('input', { id: 'register-name', required: true, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'register-name-help', 'data-testid': 'f-name' });
    const labels = labelsEditor('register', {});
    const form = h(
        'form',
        { class: 'card nodes-card', novalidate: true, 'data-testid': 'register-form', 'aria-labelledby': 'register-title' },
        h('h2', { id: 'register-title' }, t('nodes.register.title')),
        h('p', { class: 'help' }, t('nodes.register.help')),
        h('div', { class: 'field', 'data-field': 'name' }, h('label', { for: 'register-name' }, t('nodes.name')), name, h('p', { class: 'help', id: 'register-name-help' }, t('nodes.name.help'))),
        labels.el,
        h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-testid': 'register-node' }, t('nodes.register.submit')))
    );
    form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        clearFieldErrors(form);
        const got = labels.get();
        if (got.error) {
            showFieldError(form, `labels[${got.error[0]}]`, got.error[1]);
            return;
        }
        const body = { name: name.value.trim() };
        if (Object.keys(got.labels).length) body.labels = got.labels;
        const btn = form.querySelector('button[type=submit]');
        btn.disabled = true;
        try {
            const n = await api('POST', '/nodes', body);
            toast(t('nodes.register.done', { name: n.name }), 'ok');
            name.value = '';
            labels.set({});
            await load().catch(() => {});
        } catch (e) {
            showError(form, e, 'name');
            if (e instanceof ApiError && e.field === 'labels') labels.markFromMessage(e.message);
        } finally {
            btn.disabled = false;
        }
    });

    view.append(
        h('h1', {}, t('nodes.title')),
        h('div', { class: 'toolbar' }, h('label', { for: 'nodes-search' }, t('nodes.search')), search, h('span', { class: 'grow' })),
        errEl,
        h('div', { class: 'table-wrap' }, table, emptyEl),
        h('nav', { class: 'pager', 'aria-label': t('nodes.pager') }, pager.prev, pager.info, pager.next),
        form
    );
    await load();
    return every(5000, load);
}

// ---- a node ---------------------------------------------------------------------------------

function phaseBadge(phase) {
    const cls = { Running: 'ok', Succeeded: 'ok', Failed: 'bad', Pending: 'warn', Scheduled: 'info', Removed: '' }[phase] ?? 'warn';
    return h('span', { class: `badge ${cls}` }, phase || '-');
}

function containersCell(list) {
    if (!list || !list.length) return h('span', { class: 'muted' }, '-');
    return h(
        'ul',
        { class: 'nodes-containers' },
        list.map((c) =>
            h(
                'li',
                { 'data-container': c.name || '' },
                t('nodes.apps.container', { name: c.name || '?', state: c.state || '-', restarts: c.restarts ?? 0, exit: c.exitCode ?? '-' }),
                c.error ? h('div', { class: 'error nodes-container-error' }, c.error) : null
            )
        )
    );
}

async function nodePage(view, params) {
    const name = params.name;
    const base = `/nodes/${enc(name)}`;
    let node = await api('GET', base);

    const status = h('span', {});
    const props = h('dl', { class: 'props', 'data-testid': 'node-props' });
    function drawProps() {
        clear(status, onlineBadge(node, 'node-online'));
        clear(
            props,
            h('dt', {}, t('nodes.prop.status')),
            h('dd', {}, onlineBadge(node)),
            h('dt', {}, t('nodes.labels')),
            h('dd', { 'data-testid': 'node-labels' }, labelChips(node.labels)),
            h('dt', {}, t('nodes.prop.gpu')),
            h('dd', { 'data-testid': 'node-gpu' }, gpuDetail(node.gpu)),
            h('dt', {}, t('nodes.prop.enrolled')),
            h('dd', {}, node.enrolled ? t('nodes.yes') : t('nodes.no')),
            node.enrolledAt ? [h('dt', {}, t('nodes.prop.enrolledAt')), h('dd', {}, when(node.enrolledAt))] : null,
            h('dt', {}, t('nodes.prop.created')),
            h('dd', {}, when(node.createdAt)),
            h('dt', {}, t('nodes.prop.updated')),
            h('dd', {}, when(node.updatedAt)),
            h('dt', {}, t('nodes.prop.namespace')),
            h('dd', {}, node.namespace || '-')
        );
    }
    drawProps();

    // Labels.
    const labels = labelsEditor('node', node.labels);
    const saved = h('p', { class: 'help', role: 'status', 'data-testid': 'labels-saved' });
    const saveBtn = h('button', { type: 'submit', 'data-testid': 'save-labels' }, t('nodes.labels.save'));
    const labelForm = h('form', { class: 'card', novalidate: true }, labels.el, h('div', { class: 'actions' }, saveBtn), saved);
    labelForm.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        clearFieldErrors(labelForm);
        saved.textContent = '';
        const got = labels.get();
        if (got.error) {
            showFieldError(labelForm, `labels[${got.error[0]}]`, got.error[1]);
            return;
        }
        saveBtn.disabled = true;
        try {
            node = await api('PUT', base, { labels: got.labels });
            labels.set(node.labels);
            drawProps();
            toast(t('nodes.labels.saved'), 'ok');
            const a = await refreshApps();
            const names = ((a && a.apps) || []).map((x) => x.app);
            saved.textContent = names.length ? t('nodes.labels.targets', { apps: names.join(', ') }) : t('nodes.labels.targetsNone');
        } catch (e) {
            showError(labelForm, e);
            if (e instanceof ApiError && e.field === 'labels') labels.markFromMessage(e.message);
        } finally {
            saveBtn.disabled = false;
        }
    });

    // Apps on the node.
    const appsBody = h('tbody', {});
    const appsTable = h(
        'table',
        { class: 'data', 'data-testid': 'node-apps-table' },
        tableHead(['app', 'version', 'phase', 'message', 'containers'].map((c) => [t(`nodes.apps.${c}`)])),
        appsBody
    );
    const appsEmpty = h('p', { class: 'empty', hidden: true, 'data-testid': 'node-apps-empty' }, t('nodes.apps.none'));
    const refreshed = h('p', { class: 'help', 'data-testid': 'node-refreshed' });

    async function refreshApps() {
        const [a, latest] = await Promise.all([
            api('GET', `${base}/apps`),
            api('GET', '/apps?page=1&pageSize=1000').then(
                (r) => Object.fromEntries((r.items || []).map((x) => [x.name, x.version])),
                () => ({})
            ),
        ]);
        if (a.online !== node.online || JSON.stringify(a.gpu || null) !== JSON.stringify(node.gpu || null)) {
            node = { ...node, online: a.online, gpu: a.gpu };
            drawProps();
        }
        const apps = (a.apps || []).slice().sort((x, y) => x.app.localeCompare(y.app));
        redraw(
            appsBody,
            'data-app',
            apps.map((x) => {
                const lv = latest[x.app];
                const outdated = lv !== undefined && x.version !== lv;
                return h(
                    'tr',
                    { 'data-app': x.app },
                    h('td', { 'data-col': 'app' }, h('a', { href: `#/apps/${enc(x.app)}` }, x.app)),
                    h(
                        'td',
                        { 'data-col': 'version', class: outdated ? 'nodes-outdated' : false },
                        `${x.version ? x.version : t('nodes.apps.notReported')} / ${lv === undefined ? '-' : lv}`,
                        outdated ? h('span', { class: 'badge warn nodes-outdated-badge' }, t('nodes.apps.outdated')) : null
                    ),
                    h('td', { 'data-col': 'phase' }, phaseBadge(x.phase)),
                    h('td', { 'data-col': 'message' }, x.message || '-'),
                    h('td', { 'data-col': 'containers' }, containersCell(x.containers))
                );
            }),
            JSON.stringify([apps, latest, document.documentElement.lang])
        );
        appsTable.hidden = apps.length === 0;
        appsEmpty.hidden = apps.length > 0;
        refreshed.textContent = t('nodes.refreshed', { time: new Date().toLocaleTimeString() });
        return a;
    }

    // Enrollment token, shown once.
    const enrollOut = h('div', { 'data-testid': 'enroll-out' });
    const enrollBtn = h('button', { type: 'button', class: 'secondary', 'data-testid': 'node-enroll' }, t('nodes.enroll'));
    enrollBtn.addEventListener('click', async () => {
        enrollBtn.disabled = true;
        try {
            const r = await api('POST', `${base}/enroll`);
            const input = h('input', { id: 'enroll-token', readonly: true, value: r.token, class: 'mono nodes-token', 'data-testid': 'enroll-token', 'aria-describedby': 'enroll-note', spellcheck: 'false' });
            const copy = h('button', { type: 'button', class: 'secondary small', 'data-testid': 'enroll-copy' }, t('nodes.enroll.copy'));
            copy.addEventListener('click', async () => {
                input.select();
                try {
                    await navigator.clipboard.writeText(input.value);
                    toast(t('nodes.enroll.copied'), 'ok');
                } catch (e) {
                    document.execCommand?.('copy');
                }
            });
            clear(
                enrollOut,
                h(
                    'div',
                    { class: 'card nodes-card nodes-enroll' },
                    h('h2', {}, t('nodes.enroll.title')),
                    h('div', { class: 'field' }, h('label', { for: 'enroll-token' }, t('nodes.enroll.label')), h('div', { class: 'toolbar' }, input, copy)),
                    h('p', { class: 'help', id: 'enroll-note' }, t('nodes.enroll.note', { when: new Date(r.expiresAt).toLocaleString() }))
                )
            );
            input.focus();
            input.select();
        } catch (e) {
            toast(e.message, 'error');
        } finally {
            enrollBtn.disabled = false;
        }
    });

    const delBtn = h('button', { type: 'button', class: 'danger', 'data-testid': 'node-delete' }, t('nodes.delete'));
    delBtn.addEventListener('click', async () => {
        if (!(await confirmDialog(t('nodes.delete.confirm', { name }), t('nodes.delete.ok', { name })))) return;
        try {
            await api('DELETE', base);
            toast(t('nodes.deleted', { name }), 'ok');
            go('#/nodes');
        } catch (e) {
            toast(e.message, 'error');
        }
    });

    view.append(
        h('h1', {}, name),
        h('div', { class: 'toolbar' }, status, h('a', { href: '#/nodes' }, t('nodes.back')), h('span', { class: 'grow' }), enrollBtn, delBtn),
        enrollOut,
        h('section', { class: 'card nodes-card', 'aria-labelledby': 'node-props-h' }, h('h2', { id: 'node-props-h' }, t('nodes.props')), props),
        labelForm,
        h('section', { 'aria-labelledby': 'node-apps-h' }, h('h2', { id: 'node-apps-h' }, t('nodes.apps.title')), h('div', { class: 'table-wrap' }, appsTable, appsEmpty), refreshed)
    );
    await refreshApps();
    return every(2000, refreshApps);
}

route('#/nodes', nodesPage, { nav: 'nodes' });
route('#/nodes/:name', nodePage, { nav: 'nodes' });
