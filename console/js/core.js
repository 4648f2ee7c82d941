// The console's core: the API client, the session (token and namespace in sessionStorage), the
// hash router, the strings of both languages, and small DOM helpers. Pages are modules that
// register routes (main.js imports them); they build their DOM with h(), never with innerHTML, so
// no value from the API is ever parsed as HTML.

// ---- strings --------------------------------------------------------------------------------

const strings = { en: {}, zh: {} };
export const LANGS = [
    ['en', 'English'],
    ['zh', '简体中文'],
];

// Each page adds its own strings: addStrings({en: {key: text}, zh: {key: text}}). A key missing
// in one language is a bug; tests/console checks every key has both.
export function addStrings(table) {
    for (const lang of Object.keys(strings)) Object.assign(strings[lang], table[lang] || {});
}

export function allStrings() {
    return strings;
}

export function lang() {
    const l = localStorage.getItem('ferry.lang');
    if (l && strings[l]) return l;
    return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export function setLang(l) {
    localStorage.setItem('ferry.lang', l);
    document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
    render();
}

// t('apps.count', {n: 3}): the text of key in the current language, {name} replaced by vars.
export function t(key, vars) {
    let s = strings[lang()][key];
    if (s === undefined) s = strings.en[key];
    if (s === undefined) {
        console.warn('console: no string', key); // shows in the browser test's log
        s = key;
    }
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    return s;
}

// ---- session --------------------------------------------------------------------------------

export const session = {
    token: () => sessionStorage.getItem('ferry.token'),
    ns: () => sessionStorage.getItem('ferry.ns') || 'default',
    login(token, ns) {
        sessionStorage.setItem('ferry.token', token);
        sessionStorage.setItem('ferry.ns', ns || 'default');
    },
    setNs(ns) {
        sessionStorage.setItem('ferry.ns', ns);
    },
    logout() {
        sessionStorage.removeItem('ferry.token');
    },
};

// ---- the API --------------------------------------------------------------------------------

// An answer that is not 2xx: status, the server's message, and the field it names (if any).
export class ApiError extends Error {
    constructor(status, message, field) {
        super(message);
        this.status = status;
        this.field = field || null;
    }
}

// api('GET', '/apps?page=1'): paths that do not start with /v1 are in the current namespace.
// Resolves to the parsed body; rejects with ApiError. A 401 ends the session (back to login).
export async function api(method, path, body) {
    const url = path.startsWith('/v1/') ? path : `/v1/namespaces/${encodeURIComponent(session.ns())}${path}`;
    const headers = { Authorization: `Bearer ${session.token()}` };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
    }
    let res;
    try {
        res = await fetch(url, init);
    } catch (e) {
        throw new ApiError(0, t('core.unreachable'));
    }
    let data = null;
    const text = await res.text();
    if (text) {
        try {
            data = JSON.parse(text);
        } catch (e) {
            data = { error: text };
        }
    }
    if (res.ok) return data;
    if (res.status === 401 && !location.hash.startsWith('#/login')) {
        session.logout();
        go('#/login');
    }
    throw new ApiError(res.status, (data && data.error) || `HTTP ${res.status}`, data && data.field);
}

// Every item of a paged list (pageSize 200 per request).
export async function apiAll(path) {
    const sep = path.includes('?') ? '&' : '?';
    const items = [];
    for (let page = 1; ; page++) {
        const r = await api('GET', `${path}${sep}page=${page}&pageSize=200`);
        items.push(...(r.items || []));
        if (items.length >= (r.total || 0) || !(r.items || []).length) return items;
    }
}

// ---- DOM helpers ----------------------------------------------------------------------------

// h('button', {class: 'x', onclick: f, 'data-testid': 'y'}, 'text', child...): an element.
// Attributes starting with "on" are listeners; false/null/undefined attributes and children are
// skipped; strings become text nodes; arrays are flattened.
export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === false || v === null || v === undefined) continue;
        if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (k === 'value' && 'value' in el) el.value = v;
        else if (k === 'checked' || k === 'selected' || k === 'disabled') el[k] = !!v;
        else el.setAttribute(k, v === true ? '' : String(v));
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children) {
        if (c === false || c === null || c === undefined) continue;
        if (Array.isArray(c)) append(el, c);
        else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
}

// A table's header row: one <th scope="col"> per column, [text] or [text, 'num'] (numbers align
// right).
export function tableHead(cols) {
    return h('thead', {}, h('tr', {}, cols.map(([text, cls]) => h('th', { scope: 'col', class: cls || false }, text))));
}

// The controls of a paged list: Previous, "page X of Y" (announced) and Next, with test ids
// PREFIX-prev, PREFIX-page and PREFIX-next. With state and load, Previous and Next change
// state.page and call load(); show(pages, text) then sets the text and what can be clicked.
export function pagerParts(prefix, state, load) {
    const p = {
        prev: h('button', { type: 'button', class: 'secondary small', 'data-testid': `${prefix}-prev` }, t('core.prev')),
        info: h('span', { 'data-testid': `${prefix}-page`, 'aria-live': 'polite' }),
        next: h('button', { type: 'button', class: 'secondary small', 'data-testid': `${prefix}-next` }, t('core.next')),
        show(pages, text) {
            p.info.textContent = text;
            p.prev.disabled = state.page <= 1;
            p.next.disabled = state.page >= pages;
        },
    };
    if (state && load) {
        p.prev.addEventListener('click', () => {
            if (state.page > 1) state.page--;
            load().catch(() => {});
        });
        p.next.addEventListener('click', () => {
            state.page++;
            load().catch(() => {});
        });
    }
    return p;
}

// fn(value) once typing in input has paused for ms milliseconds. Returns the function that
// drops a call still waiting (a page's cleanup).
export function onTyping(input, ms, fn) {
    let timer = null;
    input.addEventListener('input', () => {
        clearTimeout(timer);
        timer = setTimeout(() => fn(input.value), ms);
    });
    return () => clearTimeout(timer);
}

// Labels as chips ("k=v"; a key alone for an empty value), or a muted dash.
export function labelChips(labels) {
    const entries = Object.entries(labels || {});
    if (!entries.length) return h('span', { class: 'muted' }, '-');
    return h(
        'span',
        { class: 'chips', title: labelText(labels) },
        entries.map(([k, v]) => h('span', { class: 'chip' }, v === '' ? k : `${k}=${v}`))
    );
}

export function clear(el, ...children) {
    el.replaceChildren();
    append(el, children);
    return el;
}

// A short-lived message at the bottom of the screen (role=status, read by screen readers).
export function toast(text, kind) {
    const box = document.getElementById('toasts');
    const el = h('div', { class: `toast ${kind || 'info'}`, role: kind === 'error' ? 'alert' : 'status' }, text);
    box.append(el);
    setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}

// A modal question; resolves true when confirmed. The dialog names what is at stake.
export function confirmDialog(text, confirmLabel) {
    return new Promise((resolve) => {
        const dlg = h(
            'dialog',
            { class: 'confirm', 'aria-labelledby': 'confirm-text', 'data-testid': 'confirm-dialog' },
            h('p', { id: 'confirm-text' }, text),
            h(
                'div',
                { class: 'actions' },
                h('button', { type: 'button', class: 'secondary', 'data-testid': 'confirm-cancel', onclick: () => dlg.close('no') }, t('core.cancel')),
                h('button', { type: 'button', class: 'danger', 'data-testid': 'confirm-ok', onclick: () => dlg.close('yes') }, confirmLabel)
            )
        );
        dlg.addEventListener('close', () => {
            dlg.remove();
            resolve(dlg.returnValue === 'yes');
        });
        document.body.append(dlg);
        dlg.showModal();
    });
}

// ---- field errors ---------------------------------------------------------------------------

// Forms mark each input's container with data-field="services[0].image" (the server's field
// names). showFieldError puts the server's message under the element of that field, or of the
// nearest enclosing field ("services[0].ports[1].hostPort" falls back to "services[0].ports[1]",
// then "services[0]"), and focuses it. Returns the element it used, or null.
export function showFieldError(root, field, message) {
    clearFieldErrors(root);
    let f = field;
    while (f) {
        const el = root.querySelector(`[data-field="${CSS.escape(f)}"]`);
        if (el) {
            el.classList.add('invalid');
            const input = el.matches('input,select,textarea') ? el : el.querySelector('input,select,textarea');
            if (input) input.setAttribute('aria-invalid', 'true');
            const msg = h('div', { class: 'field-error', role: 'alert', 'data-testid': 'field-error', 'data-error-for': field }, message);
            if (input && input.id) {
                msg.id = `${input.id}-error`;
                input.setAttribute('aria-describedby', msg.id);
            }
            (el.matches('input,select,textarea') ? el.parentElement : el).append(msg);
            (input || el).focus?.();
            el.scrollIntoView?.({ block: 'center' });
            return el;
        }
        f = f.replace(/(\.[^.[\]]+|\[\d+\])$/, '');
        if (f === field) break;
    }
    return null;
}

export function clearFieldErrors(root) {
    root.querySelectorAll('.field-error').forEach((e) => e.remove());
    root.querySelectorAll('.invalid').forEach((e) => e.classList.remove('invalid'));
    root.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
}

// ---- formatting -----------------------------------------------------------------------------

export function age(iso) {
    if (!iso) return '-';
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 60) return t('core.age.s', { n: Math.floor(s) });
    if (s < 3600) return t('core.age.m', { n: Math.floor(s / 60) });
    if (s < 86400) return t('core.age.h', { n: Math.floor(s / 3600) });
    return t('core.age.d', { n: Math.floor(s / 86400) });
}

export function labelText(labels) {
    return Object.entries(labels || {})
        .map(([k, v]) => `${k}=${v}`)
        .join(', ');
}

// A selector ({matchLabels, matchExpressions}) as one line: "region=east, tier in (a,b)".
export function selectorText(sel) {
    if (!sel) return t('core.selector.none');
    const parts = Object.entries(sel.matchLabels || {}).map(([k, v]) => `${k}=${v}`);
    for (const e of sel.matchExpressions || []) {
        const op = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!exists' }[e.operator] || e.operator;
        if (e.operator === 'Exists') parts.push(e.key);
        else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
        else parts.push(`${e.key} ${op} (${(e.values || []).join(',')})`);
    }
    return parts.length ? parts.join(', ') : t('core.selector.all');
}

// ---- the router -----------------------------------------------------------------------------

const routes = [];
let cleanup = null;

// route('#/apps/:name', (view, params) => cleanupFn?): the page for a hash. A page may return a
// function (or a promise of one) that is called when the user leaves it (stops its polling).
export function route(pattern, page, opts) {
    const names = [];
    const re = new RegExp(
        '^' +
            pattern.replace(/[.*+?^${}()|[\]\\]/g, (c) => (c === ':' ? c : `\\${c}`)).replace(/:(\w+)/g, (m, n) => {
                names.push(n);
                return '([^/]+)';
            }) +
            '$'
    );
    routes.push({ re, names, page, nav: (opts && opts.nav) || null, public: !!(opts && opts.public) });
}

export function go(hash) {
    if (location.hash === hash) render();
    else location.hash = hash;
}

// Repeats fn every ms milliseconds while the page is shown (returns the stop function, which the
// page returns as its cleanup). Errors are shown once in the page's status line, not thrown.
export function every(ms, fn) {
    let stopped = false;
    let timer = null;
    const tick = async () => {
        if (stopped) return;
        try {
            await fn();
        } catch (e) {
            if (!(e instanceof ApiError && e.status === 401)) console.info('console: refresh failed', e.message);
        }
        if (!stopped) timer = setTimeout(tick, ms);
    };
    timer = setTimeout(tick, ms);
    return () => {
        stopped = true;
        clearTimeout(timer);
    };
}

let rendering = 0;
export async function render() {
    const mine = ++rendering;
    if (typeof cleanup === 'function') cleanup();
    cleanup = null;
    const hash = location.hash || '#/apps';
    let match = null;
    let params = {};
    for (const r of routes) {
        const m = hash.split('?')[0].match(r.re);
        if (m) {
            match = r;
            r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1])));
            break;
        }
    }
    if (!match) {
        location.replace('#/apps');
        return;
    }
    if (!match.public && !session.token()) {
        location.replace('#/login');
        return;
    }
    params.query = new URLSearchParams(hash.split('?')[1] || '');
    document.dispatchEvent(new CustomEvent('ferry:page', { detail: { nav: match.nav, public: match.public } }));
    const view = document.getElementById('view');
    clear(view, h('p', { class: 'loading', 'aria-busy': 'true' }, t('core.loading')));
    try {
        const fresh = h('div', { class: 'page' });
        const c = await match.page(fresh, params);
        if (mine !== rendering) {
            if (typeof c === 'function') c();
            return;
        }
        clear(view, fresh);
        cleanup = c;
        const heading = fresh.querySelector('h1');
        document.title = `${heading ? heading.textContent + ' · ' : ''}Ferry`;
    } catch (e) {
        if (mine !== rendering) return;
        clear(
            view,
            h('div', { class: 'page' }, h('h1', {}, t('core.error')), h('p', { class: 'error', role: 'alert', 'data-testid': 'page-error' }, e.message))
        );
    }
}

addStrings({
    en: {
        'core.unreachable': 'The server cannot be reached.',
        'core.cancel': 'Cancel',
        'core.loading': 'Loading…',
        'core.error': 'Something went wrong',
        'core.age.s': '{n}s',
        'core.age.m': '{n}m',
        'core.age.h': '{n}h',
        'core.age.d': '{n}d',
        'core.selector.none': 'no selector',
        'core.selector.all': 'every node',
        'core.prev': 'Previous',
        'core.next': 'Next',
    },
    zh: {
        'core.unreachable': '无法连接服务器。',
        'core.cancel': '取消',
        'core.loading': '加载中…',
        'core.error': '出错了',
        'core.age.s': '{n}秒',
        'core.age.m': '{n}分钟',
        'core.age.h': '{n}小时',
        'core.age.d': '{n}天',
        'core.selector.none': '无选择器',
        'core.selector.all': '所有节点',
        'core.prev': '上一页',
        'core.next': '下一页',
    },
});
