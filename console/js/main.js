// The console's entry: the header (navigation, namespace, language, log out), the login page,
// and the pages, each a module that registers its routes.
import { LANGS, addStrings, api, clear, go, h, lang, render, route, session, setLang, t, ApiError } from './core.js';
import './apps.js';
import './wizard.js';
import './app-detail.js';
import './nodes.js';
import './configs.js';

addStrings({
    en: {
        'nav.apps': 'Applications',
        'nav.nodes': 'Nodes',
        'nav.configs': 'Config objects',
        'nav.main': 'Main',
        'top.namespace': 'Namespace',
        'top.language': 'Language',
        'top.logout': 'Log out',
        'top.skip': 'Skip to content',
        'login.title': 'Sign in to Ferry',
        'login.intro': 'Paste an API token. It is kept in this browser tab only (session storage) and sent with each request; close the tab to forget it.',
        'login.token': 'API token',
        'login.token.help': 'The admin token is in the bridge\'s <data dir>.admin-token file; an admin creates others with POST /v1/tokens.',
        'login.namespace': 'Namespace',
        'login.submit': 'Sign in',
        'login.bad': 'This token is not valid.',
        'login.empty': 'Enter a token.',
        'login.forbidden': 'This token may not read namespace {ns}.',
    },
    zh: {
        'nav.apps': '应用',
        'nav.nodes': '节点',
        'nav.configs': '配置项',
        'nav.main': '主导航',
        'top.namespace': '命名空间',
        'top.language': '语言',
        'top.logout': '退出',
        'top.skip': '跳到内容',
        'login.title': '登录 Ferry',
        'login.intro': '粘贴 API 令牌。令牌只保存在当前浏览器标签页（会话存储）中，随每个请求发送；关闭标签页即忘记。',
        'login.token': 'API 令牌',
        'login.token.help': '管理员令牌在网桥的 <数据目录>.admin-token 文件中；管理员可用 POST /v1/tokens 创建其他令牌。',
        'login.namespace': '命名空间',
        'login.submit': '登录',
        'login.bad': '令牌无效。',
        'login.empty': '请输入令牌。',
        'login.forbidden': '此令牌无权读取命名空间 {ns}。',
    },
});

const NAV = [
    ['apps', '#/apps', 'nav.apps'],
    ['nodes', '#/nodes', 'nav.nodes'],
    ['configs', '#/configs', 'nav.configs'],
];

function header(nav, isPublic) {
    const top = document.getElementById('top');
    top.hidden = isPublic;
    document.getElementById('skip-link').textContent = t('top.skip');
    const navEl = document.getElementById('nav');
    navEl.setAttribute('aria-label', t('nav.main'));
    clear(
        navEl,
        NAV.map(([id, href, key]) =>
            h('a', { href, 'data-testid': `nav-${id}`, 'aria-current': id === nav ? 'page' : false, class: id === nav ? 'current' : false }, t(key))
        )
    );
    document.getElementById('ns-label').textContent = t('top.namespace');
    document.getElementById('ns-input').value = session.ns();
    const langSel = document.getElementById('lang-select');
    langSel.setAttribute('aria-label', t('top.language'));
    langSel.value = lang();
    document.getElementById('logout').textContent = t('top.logout');
}

document.addEventListener('ferry:page', (e) => header(e.detail.nav, e.detail.public));

route(
    '#/login',
    (view) => {
        const token = h('input', { id: 'login-token', type: 'password', autocomplete: 'off', required: true, 'data-testid': 'login-token', 'aria-describedby': 'login-token-help' });
        const ns = h('input', { id: 'login-ns', value: session.ns(), required: true, 'data-testid': 'login-namespace', autocomplete: 'off' });
        const err = h('p', { class: 'error', role: 'alert', 'data-testid': 'login-error' });
        const form = h(
            'form',
            { class: 'login card', novalidate: true },
            h('h1', {}, t('login.title')),
            h('p', {}, t('login.intro')),
            h('label', { for: 'login-token' }, t('login.token')),
            token,
            h('p', { class: 'help', id: 'login-token-help' }, t('login.token.help')),
            h('label', { for: 'login-ns' }, t('login.namespace')),
            ns,
            err,
            h('button', { type: 'submit', 'data-testid': 'login-submit' }, t('login.submit'))
        );
        form.addEventListener('submit', async (ev) => {
            ev.preventDefault();
            err.textContent = '';
            const value = token.value.trim();
            if (!value) {
                err.textContent = t('login.empty');
                token.focus();
                return;
            }
            session.login(value, ns.value.trim() || 'default');
            try {
                await api('GET', '/apps?page=1&pageSize=1');
                go('#/apps');
            } catch (e) {
                session.logout();
                if (e instanceof ApiError && e.status === 401) err.textContent = t('login.bad');
                else if (e instanceof ApiError && e.status === 403) err.textContent = t('login.forbidden', { ns: ns.value });
                else err.textContent = e.message;
            }
        });
        view.append(form);
        setTimeout(() => token.focus(), 0);
    },
    { public: true }
);

function init() {
    const sel = document.getElementById('lang-select');
    for (const [code, name] of LANGS) sel.append(h('option', { value: code, selected: code === lang() }, name));
    sel.addEventListener('change', () => setLang(sel.value));
    document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
    const ns = document.getElementById('ns-input');
    ns.addEventListener('change', () => {
        const v = ns.value.trim();
        if (v) {
            session.setNs(v);
            go('#/apps');
        }
    });
    document.getElementById('logout').addEventListener('click', () => {
        session.logout();
        go('#/login');
    });
    window.addEventListener('hashchange', render);
    render();
}

init();
