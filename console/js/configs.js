// Config objects: the list (#/configs: paging, name search as you type, kind filter, delete) and
// the create/edit form (#/configs/new, #/configs/:name) for the four kinds of
// schema/config.schema.json: config (text files and binary files), secret, certificate, registry.
// Function code is a config of kind config whose files are the source (docs/functions.md); the
// "function code" button fills in a small index.py.
//
// Write-only values: GET answers a secret's values, a certificate's key and a registry's password
// as {"digest": "sha256:..."}. A PUT replaces the whole object and refuses a digest in their place
// (400 "must be a string"), so the server cannot keep a value that is not sent again: the form
// shows the digest, never a value, and requires every write-only value to be entered again on
// save (the help text says so).
//
// Test hooks (data-testid unless said otherwise):
//   list: configs-search, configs-kind, configs-create (link to #/configs/new), configs-table,
//         rows <tr data-config="NAME"> with cells data-col="name|kind|files|version|age",
//         delete-config-NAME, configs-prev, configs-next, configs-page
//   form: f-name, f-kind, f-data[i].name, f-data[i].value, remove-file-i, add-file,
//         f-binaryData[i].name, f-binaryData[i].file, remove-binary-i, add-binary,
//         function-template, f-certificate.cert, f-certificate.key, f-certificate.ca,
//         f-registry.server, f-registry.username, f-registry.password, digest-<field path>
//         (the digest shown for a write-only value), config-save, delete-config-NAME (edit),
//         config-version. Every input's container has data-field="<the server's field path>"
//         (name, kind, data.<file>, binaryData.<file>, certificate.cert, registry.password, ...).
import { addStrings, age, api, ApiError, clearFieldErrors, confirmDialog, go, h, clear, route, showFieldError, t, toast, pagerParts, tableHead, onTyping } from './core.js';

addStrings({
    en: {
        'configs.title': 'Config objects',
        'configs.search': 'Search by name',
        'configs.kind': 'Kind',
        'configs.kind.all': 'All kinds',
        'configs.kind.config': 'config',
        'configs.kind.secret': 'secret',
        'configs.kind.certificate': 'certificate',
        'configs.kind.registry': 'registry',
        'configs.create': 'New config object',
        'configs.col.name': 'Name',
        'configs.col.kind': 'Kind',
        'configs.col.files': 'Contents',
        'configs.col.version': 'Version',
        'configs.col.age': 'Updated',
        'configs.col.actions': 'Actions',
        'configs.files': '{n} files',
        'configs.keys': '{n} values',
        'configs.more': '+{n} more',
        'configs.none': 'No config objects.',
        'configs.noneMatch': 'No config object matches.',
        'configs.page': 'Page {page} of {pages} ({total} objects)',
        'configs.pager': 'Pages',
        'configs.delete': 'Delete',
        'configs.deleteN': 'Delete {name}',
        'configs.delete.confirm': 'Delete config object {name}? Apps can no longer use it.',
        'configs.deleted': 'Config object {name} deleted.',
        'configs.new.title': 'New config object',
        'configs.edit.title': 'Config object {name}',
        'configs.back': 'All config objects',
        'configs.name': 'Name',
        'configs.name.help': 'A DNS label: lowercase letters, digits and "-". It cannot be changed later.',
        'configs.kind.help': 'config: files; secret: write-only values; certificate: TLS files; registry: image pull credentials.',
        'configs.kind.fixed': 'The kind of an existing object cannot be changed here.',
        'configs.version': 'Version {v}, updated {age} ago',
        'configs.textFiles': 'Text files',
        'configs.textFiles.help': 'File names may hold folders (lib/util.py). At most 256 files and 1 MiB per object.',
        'configs.binaryFiles': 'Binary files',
        'configs.binaryFiles.help': 'Uploaded files are sent as base64.',
        'configs.file.name': 'File name',
        'configs.file.content': 'Content',
        'configs.file.upload': 'File',
        'configs.file.size': '{n} bytes',
        'configs.file.kept': 'stored: {n} bytes (choose a file to replace it)',
        'configs.file.none': 'No files.',
        'configs.file.add': 'Add text file',
        'configs.file.addBinary': 'Add binary file',
        'configs.file.remove': 'Remove',
        'configs.file.removeN': 'Remove file {n}',
        'configs.file.needUpload': 'Choose a file.',
        'configs.file.dup': 'The file name {name} is used twice.',
        'configs.file.emptyName': 'Enter a file name, or remove the row.',
        'configs.template': 'Function code template',
        'configs.template.help': 'Adds index.py with a Python handler: use this object as a function service\'s functionConfig with handler index.handler.',
        'configs.template.exists': 'index.py exists already.',
        'configs.secret.values': 'Values',
        'configs.secret.help': 'Values are write-only: after saving, the server shows only their SHA-256 digests. It cannot keep a value that is not sent again, so every value must be entered again to save changes.',
        'configs.secret.key': 'Name',
        'configs.secret.value': 'Value',
        'configs.secret.add': 'Add value',
        'configs.digest': 'Stored value: {digest}',
        'configs.reenter': 'Enter the value again: the server keeps no value that is not sent.',
        'configs.reenter.placeholder': 'enter the value again',
        'configs.cert.cert': 'Certificate (PEM)',
        'configs.cert.key': 'Private key (PEM, write-only)',
        'configs.cert.ca': 'CA certificate (PEM, optional)',
        'configs.cert.help': 'Written on the node as tls.crt, tls.key (mode 0600) and ca.crt. The key is write-only: to save, paste it again.',
        'configs.reg.server': 'Server (host[:port])',
        'configs.reg.username': 'User name',
        'configs.reg.password': 'Password (write-only)',
        'configs.reg.help': 'The password is write-only: to save changes, enter it again.',
        'configs.save': 'Save',
        'configs.created': 'Config object {name} created.',
        'configs.saved': 'Config object {name} saved (version {v}).',
        'configs.conflict': 'Someone changed this object since it was loaded. Reload the page to see the new version.',
        'configs.inUse': 'Cannot delete: {msg}',
        'configs.readError': 'Cannot read {name}.',
    },
    zh: {
        'configs.title': '配置项',
        'configs.search': '按名称搜索',
        'configs.kind': '类型',
        'configs.kind.all': '所有类型',
        'configs.kind.config': '配置',
        'configs.kind.secret': '密钥',
        'configs.kind.certificate': '证书',
        'configs.kind.registry': '镜像仓库',
        'configs.create': '新建配置项',
        'configs.col.name': '名称',
        'configs.col.kind': '类型',
        'configs.col.files': '内容',
        'configs.col.version': '版本',
        'configs.col.age': '更新时间',
        'configs.col.actions': '操作',
        'configs.files': '{n} 个文件',
        'configs.keys': '{n} 个值',
        'configs.more': '另有 {n} 个',
        'configs.none': '没有配置项。',
        'configs.noneMatch': '没有匹配的配置项。',
        'configs.page': '第 {page} / {pages} 页（共 {total} 个）',
        'configs.pager': '分页',
        'configs.delete': '删除',
        'configs.deleteN': '删除 {name}',
        'configs.delete.confirm': '删除配置项 {name}？应用将无法再使用它。',
        'configs.deleted': '配置项 {name} 已删除。',
        'configs.new.title': '新建配置项',
        'configs.edit.title': '配置项 {name}',
        'configs.back': '所有配置项',
        'configs.name': '名称',
        'configs.name.help': 'DNS 标签：小写字母、数字和“-”。创建后不能修改。',
        'configs.kind.help': '配置：文件；密钥：只写的值；证书：TLS 文件；镜像仓库：拉取镜像的凭据。',
        'configs.kind.fixed': '已有对象的类型不能在此修改。',
        'configs.version': '版本 {v}，{age}前更新',
        'configs.textFiles': '文本文件',
        'configs.textFiles.help': '文件名可包含目录（lib/util.py）。每个对象最多 256 个文件、1 MiB 内容。',
        'configs.binaryFiles': '二进制文件',
        'configs.binaryFiles.help': '上传的文件以 base64 发送。',
        'configs.file.name': '文件名',
        'configs.file.content': '内容',
        'configs.file.upload': '文件',
        'configs.file.size': '{n} 字节',
        'configs.file.kept': '已保存：{n} 字节（选择文件可替换）',
        'configs.file.none': '没有文件。',
        'configs.file.add': '添加文本文件',
        'configs.file.addBinary': '添加二进制文件',
        'configs.file.remove': '删除',
        'configs.file.removeN': '删除文件 {n}',
        'configs.file.needUpload': '请选择文件。',
        'configs.file.dup': '文件名 {name} 重复。',
        'configs.file.emptyName': '请输入文件名，或删除此行。',
        'configs.template': '函数代码模板',
        'configs.template.help': '添加含 Python 处理函数的 index.py：在函数服务的 functionConfig 中使用此对象，handler 为 index.handler。',
        'configs.template.exists': 'index.py 已存在。',
        'configs.secret.values': '值',
        'configs.secret.help': '值是只写的：保存后服务器只显示其 SHA-256 摘要。服务器无法保留未重新发送的值，因此保存修改时必须重新输入每个值。',
        'configs.secret.key': '名称',
        'configs.secret.value': '值',
        'configs.secret.add': '添加值',
        'configs.digest': '已保存的值：{digest}',
        'configs.reenter': '请重新输入此值：服务器不会保留未发送的值。',
        'configs.reenter.placeholder': '请重新输入值',
        'configs.cert.cert': '证书（PEM）',
        'configs.cert.key': '私钥（PEM，只写）',
        'configs.cert.ca': 'CA 证书（PEM，可选）',
        'configs.cert.help': '在节点上写为 tls.crt、tls.key（权限 0600）和 ca.crt。私钥是只写的：保存时请重新粘贴。',
        'configs.reg.server': '服务器（host[:port]）',
        'configs.reg.username': '用户名',
        'configs.reg.password': '密码（只写）',
        'configs.reg.help': '密码是只写的：保存修改时请重新输入。',
        'configs.save': '保存',
        'configs.created': '配置项 {name} 已创建。',
        'configs.saved': '配置项 {name} 已保存（版本 {v}）。',
        'configs.conflict': '此对象在加载后已被他人修改。请重新加载页面查看新版本。',
        'configs.inUse': '无法删除：{msg}',
        'configs.readError': '无法读取 {name}。',
    },
});

const KINDS = ['config', 'secret', 'certificate', 'registry'];
const PAGE_SIZE = 20;
const enc = encodeURIComponent;
const FUNCTION_TEMPLATE =
    'def handler(event, context):\n' +
    '    """Called for POST /{service}/{function}: event is the JSON body, the return value the answer."""\n' +
    '    name = event.get("name", "world")\n' +
    '    return {"message": "hello " + name, "function": context["functionName"]}\n';

function isDigest(v) {
    return v !== null && typeof v === 'object' && typeof v.digest === 'string';
}

// Delete with a confirmation naming it; 409 (in use) as a toast with the server's message.
async function deleteConfig(name, after) {
    if (!(await confirmDialog(t('configs.delete.confirm', { name }), t('configs.deleteN', { name })))) return;
    try {
        await api('DELETE', `/configs/${enc(name)}`);
        toast(t('configs.deleted', { name }), 'ok');
        after();
    } catch (e) {
        if (e instanceof ApiError && e.status === 409) toast(t('configs.inUse', { msg: e.message }), 'error');
        else toast(e.message, 'error');
    }
}

// ---- the list -------------------------------------------------------------------------------

const listState = { page: 1, q: '', kind: '' };

function summary(c) {
    if (c.kind === 'certificate') {
        const files = ['tls.crt', 'tls.key'];
        if (c.certificate && c.certificate.ca) files.push('ca.crt');
        return [t('configs.files', { n: files.length }), files];
    }
    if (c.kind === 'registry') {
        const r = c.registry || {};
        return [r.server || '-', r.username ? [r.username] : []];
    }
    const names = [...Object.keys(c.data || {}), ...Object.keys(c.binaryData || {})].sort();
    return [c.kind === 'secret' ? t('configs.keys', { n: names.length }) : t('configs.files', { n: names.length }), names];
}

function summaryCell(c) {
    const [head, names] = summary(c);
    const shown = names.slice(0, 4);
    return [
        h('span', {}, head),
        shown.length
            ? h(
                  'span',
                  { class: 'chips' },
                  shown.map((n) => h('span', { class: 'chip' }, n)),
                  names.length > shown.length ? h('span', { class: 'muted' }, t('configs.more', { n: names.length - shown.length })) : null
              )
            : null,
    ];
}

async function configsPage(view) {
    const search = h('input', { id: 'configs-search', type: 'search', value: listState.q, autocomplete: 'off', 'data-testid': 'configs-search', 'aria-controls': 'configs-table' });
    const kind = h(
        'select',
        { id: 'configs-kind', 'data-testid': 'configs-kind', 'aria-controls': 'configs-table' },
        h('option', { value: '', selected: listState.kind === '' }, t('configs.kind.all')),
        KINDS.map((k) => h('option', { value: k, selected: listState.kind === k }, t(`configs.kind.${k}`)))
    );
    const tbody = h('tbody', {});
    const table = h(
        'table',
        { class: 'data', id: 'configs-table', 'data-testid': 'configs-table' },
        tableHead([
            [t('configs.col.name')],
            [t('configs.col.kind')],
            [t('configs.col.files')],
            [t('configs.col.version'), 'num'],
            [t('configs.col.age')],
            [t('configs.col.actions')],
        ]),
        tbody
    );
    const emptyEl = h('p', { class: 'empty', hidden: true, 'data-testid': 'configs-empty' });
    const pager = pagerParts('configs', listState, () => load());
    const errEl = h('p', { class: 'error', role: 'alert', hidden: true, 'data-testid': 'configs-error' });
    let seq = 0;

    async function load() {
        const mine = ++seq;
        const q = listState.q.trim();
        let r;
        try {
            r = await api('GET', `/configs?page=${listState.page}&pageSize=${PAGE_SIZE}${q ? `&name=${enc(q)}` : ''}${listState.kind ? `&kind=${enc(listState.kind)}` : ''}`);
        } catch (e) {
            if (mine !== seq) return;
            errEl.textContent = e.message;
            errEl.hidden = false;
            return;
        }
        if (mine !== seq) return;
        errEl.hidden = true;
        const pages = Math.max(1, Math.ceil((r.total || 0) / PAGE_SIZE));
        if (listState.page > pages && r.total > 0) {
            listState.page = pages;
            return load();
        }
        const items = r.items || [];
        clear(
            tbody,
            items.map((c) =>
                h(
                    'tr',
                    { 'data-config': c.name },
                    h('td', { 'data-col': 'name' }, h('a', { href: `#/configs/${enc(c.name)}` }, c.name)),
                    h('td', { 'data-col': 'kind' }, h('span', { class: 'badge info' }, t(`configs.kind.${c.kind}`))),
                    h('td', { 'data-col': 'files' }, summaryCell(c)),
                    h('td', { 'data-col': 'version', class: 'num' }, String(c.version)),
                    h('td', { 'data-col': 'age', title: c.updatedAt || '' }, age(c.updatedAt)),
                    h(
                        'td',
                        { 'data-col': 'actions' },
                        h(
                            'button',
                            {
                                type: 'button',
                                class: 'danger small',
                                'data-testid': `delete-config-${c.name}`,
                                'aria-label': t('configs.deleteN', { name: c.name }),
                                onclick: () => deleteConfig(c.name, load),
                            },
                            t('configs.delete')
                        )
                    )
                )
            )
        );
        table.hidden = items.length === 0;
        emptyEl.hidden = items.length > 0;
        emptyEl.textContent = q || listState.kind ? t('configs.noneMatch') : t('configs.none');
        pager.show(pages, t('configs.page', { page: listState.page, pages, total: r.total || 0 }));
    }

    onTyping(search, 250, (q) => {
        listState.q = q;
        listState.page = 1;
        load();
    });
    kind.addEventListener('change', () => {
        listState.kind = kind.value;
        listState.page = 1;
        load();
    });

    view.append(
        h('h1', {}, t('configs.title')),
        h(
            'div',
            { class: 'toolbar' },
            h('label', { for: 'configs-search' }, t('configs.search')),
            search,
            h('label', { for: 'configs-kind' }, t('configs.kind')),
            kind,
            h('span', { class: 'grow' }),
            h('a', { class: 'button', href: '#/configs/new', 'data-testid': 'configs-create' }, t('configs.create'))
        ),
        errEl,
        h('div', { class: 'table-wrap' }, table, emptyEl),
        h('nav', { class: 'pager', 'aria-label': t('configs.pager') }, pager.prev, pager.info, pager.next)
    );
    await load();
}

// ---- the form -------------------------------------------------------------------------------

// base64 of a File (FileReader's data: URL without its prefix).
function readBase64(file) {
    return new Promise((resolve, reject) => {
        const r = new FileReader();
        r.onload = () => {
            const s = String(r.result);
            resolve(s.slice(s.indexOf(',') + 1));
        };
        r.onerror = () => reject(r.error);
        r.readAsDataURL(file);
    });
}

function b64Size(b64) {
    const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
    return Math.max(0, (b64.length / 4) * 3 - pad);
}

// A write-only value's stored digest, shown instead of the value.
function digestNote(field, digest) {
    if (!digest) return null;
    return h('p', { class: 'help configs-digest', 'data-testid': `digest-${field}` }, t('configs.digest', { digest }));
}

async function configForm(view, params) {
    const editing = params.name !== undefined;
    let stored = null;
    if (editing) stored = await api('GET', `/configs/${enc(params.name)}`);

    const state = {
        kind: stored ? stored.kind : KINDS.includes(params.query.get('kind')) ? params.query.get('kind') : 'config',
        // text files (config) or values (secret): {name, value, digest}
        data: [],
        // binary files: {name, b64 (new upload or stored), size}
        binary: [],
        cert: { cert: '', key: '', ca: '', keyDigest: '' },
        reg: { server: '', username: '', password: '', passwordDigest: '' },
    };
    if (stored) {
        for (const [k, v] of Object.entries(stored.data || {})) {
            state.data.push(isDigest(v) ? { name: k, value: '', digest: v.digest } : { name: k, value: v, digest: '' });
        }
        for (const [k, v] of Object.entries(stored.binaryData || {})) state.binary.push({ name: k, b64: v, size: b64Size(v), kept: true });
        if (stored.certificate) {
            state.cert.cert = stored.certificate.cert || '';
            state.cert.ca = stored.certificate.ca || '';
            state.cert.keyDigest = isDigest(stored.certificate.key) ? stored.certificate.key.digest : '';
        }
        if (stored.registry) {
            state.reg.server = stored.registry.server || '';
            state.reg.username = stored.registry.username || '';
            state.reg.passwordDigest = isDigest(stored.registry.password) ? stored.registry.password.digest : '';
        }
    }

    const name = h('input', {
        id: 'cf-name',
        value: stored ? stored.name : '',
        required: true,
        readonly: editing,
        autocomplete: 'off',
        spellcheck: 'false',
        'aria-describedby': 'cf-name-help',
        'data-testid': 'f-name',
    });
    const kind = h(
        'select',
        { id: 'cf-kind', disabled: editing, 'aria-describedby': 'cf-kind-help', 'data-testid': 'f-kind' },
        KINDS.map((k) => h('option', { value: k, selected: state.kind === k }, t(`configs.kind.${k}`)))
    );
    const body = h('div', { class: 'configs-body' });
    const form = h('form', { class: 'card', novalidate: true, 'data-testid': 'config-form' });

    // -- text files / secret values: rows of name + value.
    function dataSection() {
        const secret = state.kind === 'secret';
        const rows = h('div', { class: 'rows' });
        function draw(focus) {
            clear(rows);
            if (!state.data.length) rows.append(h('p', { class: 'muted' }, t('configs.file.none')));
            state.data.forEach((f, i) => {
                const nid = `cf-dn-${i}`;
                const vid = `cf-dv-${i}`;
                const row = h('div', { class: 'row configs-file', 'data-field': `data.${f.name}` });
                const nameIn = h('input', {
                    id: nid,
                    value: f.name,
                    autocomplete: 'off',
                    spellcheck: 'false',
                    'data-testid': `f-data[${i}].name`,
                    oninput: (e) => {
                        f.name = e.target.value;
                        row.setAttribute('data-field', `data.${f.name.trim()}`);
                    },
                });
                const valIn = h('textarea', {
                    id: vid,
                    rows: secret ? 2 : 8,
                    spellcheck: 'false',
                    autocomplete: 'off',
                    placeholder: f.digest ? t('configs.reenter.placeholder') : false,
                    'aria-describedby': f.digest ? `digest-${i}` : false,
                    'data-testid': `f-data[${i}].value`,
                    oninput: (e) => (f.value = e.target.value),
                });
                valIn.value = f.value;
                const digest = digestNote(`data.${f.name}`, f.digest);
                if (digest) digest.id = `digest-${i}`;
                row.append(
                    h('div', { class: 'field configs-fname' }, h('label', { for: nid }, secret ? t('configs.secret.key') : t('configs.file.name'), h('span', { class: 'visually-hidden' }, ` ${i + 1}`)), nameIn),
                    h('div', { class: 'field configs-fvalue' }, h('label', { for: vid }, secret ? t('configs.secret.value') : t('configs.file.content'), h('span', { class: 'visually-hidden' }, ` ${i + 1}`)), valIn, digest),
                    h(
                        'button',
                        {
                            type: 'button',
                            class: 'secondary small',
                            'data-testid': `remove-file-${i}`,
                            'aria-label': t('configs.file.removeN', { n: i + 1 }),
                            onclick: () => {
                                state.data.splice(i, 1);
                                draw();
                            },
                        },
                        t('configs.file.remove')
                    )
                );
                rows.append(row);
                if (focus === i) setTimeout(() => nameIn.focus(), 0);
            });
        }
        draw();
        const add = h(
            'button',
            {
                type: 'button',
                class: 'secondary small',
                'data-testid': 'add-file',
                onclick: () => {
                    state.data.push({ name: '', value: '', digest: '' });
                    draw(state.data.length - 1);
                },
            },
            secret ? t('configs.secret.add') : t('configs.file.add')
        );
        const tools = h('div', { class: 'toolbar' }, add);
        if (!secret) {
            tools.append(
                h(
                    'button',
                    {
                        type: 'button',
                        class: 'secondary small',
                        'data-testid': 'function-template',
                        'aria-describedby': 'cf-template-help',
                        onclick: () => {
                            const i = state.data.findIndex((f) => f.name.trim() === 'index.py');
                            if (i >= 0) {
                                toast(t('configs.template.exists'), 'info');
                                draw(i);
                                return;
                            }
                            // Replace the one empty row a new form starts with, else add one.
                            if (state.data.length === 1 && !state.data[0].name && !state.data[0].value) state.data.pop();
                            state.data.push({ name: 'index.py', value: FUNCTION_TEMPLATE, digest: '' });
                            draw(state.data.length - 1);
                        },
                    },
                    t('configs.template')
                ),
                h('span', { class: 'help', id: 'cf-template-help' }, t('configs.template.help'))
            );
        }
        return h(
            'fieldset',
            { 'data-field': 'data' },
            h('legend', {}, secret ? t('configs.secret.values') : t('configs.textFiles')),
            h('p', { class: 'help' }, secret ? t('configs.secret.help') : t('configs.textFiles.help')),
            rows,
            tools
        );
    }

    // -- binary files: rows of name + file input.
    function binarySection() {
        const rows = h('div', { class: 'rows' });
        function draw(focus) {
            clear(rows);
            if (!state.binary.length) rows.append(h('p', { class: 'muted' }, t('configs.file.none')));
            state.binary.forEach((f, i) => {
                const nid = `cf-bn-${i}`;
                const fid = `cf-bf-${i}`;
                const row = h('div', { class: 'row configs-file', 'data-field': `binaryData.${f.name}` });
                const sizeEl = h('span', { class: 'help', 'data-testid': `binary-size-${i}` }, f.b64 === null ? '' : f.kept ? t('configs.file.kept', { n: f.size }) : t('configs.file.size', { n: f.size }));
                const nameIn = h('input', {
                    id: nid,
                    value: f.name,
                    autocomplete: 'off',
                    spellcheck: 'false',
                    'data-testid': `f-binaryData[${i}].name`,
                    oninput: (e) => {
                        f.name = e.target.value;
                        row.setAttribute('data-field', `binaryData.${f.name.trim()}`);
                    },
                });
                const fileIn = h('input', { id: fid, type: 'file', 'data-testid': `f-binaryData[${i}].file` });
                fileIn.addEventListener('change', async () => {
                    const file = fileIn.files && fileIn.files[0];
                    if (!file) return;
                    try {
                        f.b64 = await readBase64(file);
                        f.size = file.size;
                        f.kept = false;
                        if (!f.name.trim()) {
                            f.name = file.name;
                            nameIn.value = file.name;
                            row.setAttribute('data-field', `binaryData.${f.name}`);
                        }
                        sizeEl.textContent = t('configs.file.size', { n: f.size });
                    } catch (e) {
                        toast(e.message, 'error');
                    }
                });
                row.append(
                    h('div', { class: 'field configs-fname' }, h('label', { for: nid }, t('configs.file.name'), h('span', { class: 'visually-hidden' }, ` ${i + 1}`)), nameIn),
                    h('div', { class: 'field' }, h('label', { for: fid }, t('configs.file.upload'), h('span', { class: 'visually-hidden' }, ` ${i + 1}`)), fileIn, sizeEl),
                    h(
                        'button',
                        {
                            type: 'button',
                            class: 'secondary small',
                            'data-testid': `remove-binary-${i}`,
                            'aria-label': t('configs.file.removeN', { n: i + 1 }),
                            onclick: () => {
                                state.binary.splice(i, 1);
                                draw();
                            },
                        },
                        t('configs.file.remove')
                    )
                );
                rows.append(row);
                if (focus === i) setTimeout(() => nameIn.focus(), 0);
            });
        }
        draw();
        return h(
            'fieldset',
            { 'data-field': 'binaryData' },
            h('legend', {}, t('configs.binaryFiles')),
            h('p', { class: 'help' }, t('configs.binaryFiles.help')),
            rows,
            h(
                'button',
                {
                    type: 'button',
                    class: 'secondary small',
                    'data-testid': 'add-binary',
                    onclick: () => {
                        state.binary.push({ name: '', b64: null, size: 0, kept: false });
                        draw(state.binary.length - 1);
                    },
                },
                t('configs.file.addBinary')
            )
        );
    }

    // One labelled textarea or input bound to obj[key]; field is the server's path.
    function field(field, label, obj, key, opts) {
        const id = `cf-${field.replace(/[^A-Za-z0-9]/g, '-')}`;
        const o = opts || {};
        const attrs = {
            id,
            spellcheck: 'false',
            autocomplete: o.password ? 'new-password' : 'off',
            placeholder: o.digest ? t('configs.reenter.placeholder') : false,
            'aria-describedby': o.digest ? `${id}-digest` : false,
            'data-testid': `f-${field}`,
            oninput: (e) => (obj[key] = e.target.value),
        };
        const input = o.area ? h('textarea', { ...attrs, rows: 6 }) : h('input', { ...attrs, type: o.password ? 'password' : 'text' });
        input.value = obj[key];
        const d = digestNote(field, o.digest);
        if (d) d.id = `${id}-digest`;
        return h('div', { class: `field ${o.area ? 'wide' : ''}`, 'data-field': field }, h('label', { for: id }, label), input, d);
    }

    function drawBody() {
        clear(body);
        if (state.kind === 'config') {
            if (!editing && !state.data.length) state.data.push({ name: '', value: '', digest: '' });
            body.append(dataSection(), binarySection());
        } else if (state.kind === 'secret') {
            if (!editing && !state.data.length) state.data.push({ name: '', value: '', digest: '' });
            body.append(dataSection());
        } else if (state.kind === 'certificate') {
            body.append(
                h(
                    'fieldset',
                    { 'data-field': 'certificate' },
                    h('legend', {}, t('configs.kind.certificate')),
                    h('p', { class: 'help' }, t('configs.cert.help')),
                    field('certificate.cert', t('configs.cert.cert'), state.cert, 'cert', { area: true }),
                    field('certificate.key', t('configs.cert.key'), state.cert, 'key', { area: true, digest: state.cert.keyDigest }),
                    field('certificate.ca', t('configs.cert.ca'), state.cert, 'ca', { area: true })
                )
            );
        } else {
            body.append(
                h(
                    'fieldset',
                    { 'data-field': 'registry' },
                    h('legend', {}, t('configs.kind.registry')),
                    h('p', { class: 'help' }, t('configs.reg.help')),
                    h(
                        'div',
                        { class: 'form-grid' },
                        field('registry.server', t('configs.reg.server'), state.reg, 'server'),
                        field('registry.username', t('configs.reg.username'), state.reg, 'username'),
                        field('registry.password', t('configs.reg.password'), state.reg, 'password', { password: true, digest: state.reg.passwordDigest })
                    )
                )
            );
        }
    }
    kind.addEventListener('change', () => {
        state.kind = kind.value;
        clearFieldErrors(form);
        drawBody();
    });
    drawBody();

    // The body to send, or {error: [field, message]} for what the form itself can tell.
    function collect() {
        const out = { name: name.value.trim(), kind: state.kind };
        if (state.kind === 'config' || state.kind === 'secret') {
            const data = {};
            const seen = new Set();
            for (let i = 0; i < state.data.length; i++) {
                const f = state.data[i];
                const n = f.name.trim();
                if (!n && !f.value && !f.digest) continue;
                if (!n) return { error: [`data.`, t('configs.file.emptyName')], row: ['data', i] };
                if (seen.has(n)) return { error: [`data.${n}`, t('configs.file.dup', { name: n })] };
                if (f.digest && !f.value) return { error: [`data.${n}`, t('configs.reenter')] };
                seen.add(n);
                data[n] = f.value;
            }
            if (Object.keys(data).length || state.kind === 'secret') out.data = data;
            if (state.kind === 'config') {
                const bin = {};
                for (let i = 0; i < state.binary.length; i++) {
                    const f = state.binary[i];
                    const n = f.name.trim();
                    if (!n && f.b64 === null) continue;
                    if (!n) return { error: ['binaryData.', t('configs.file.emptyName')], row: ['binaryData', i] };
                    if (seen.has(n)) return { error: [`binaryData.${n}`, t('configs.file.dup', { name: n })] };
                    if (f.b64 === null) return { error: [`binaryData.${n}`, t('configs.file.needUpload')] };
                    seen.add(n);
                    bin[n] = f.b64;
                }
                if (Object.keys(bin).length) out.binaryData = bin;
            }
        } else if (state.kind === 'certificate') {
            if (state.cert.keyDigest && !state.cert.key) return { error: ['certificate.key', t('configs.reenter')] };
            out.certificate = { cert: state.cert.cert, key: state.cert.key };
            if (state.cert.ca.trim()) out.certificate.ca = state.cert.ca;
        } else {
            if (state.reg.passwordDigest && !state.reg.password) return { error: ['registry.password', t('configs.reenter')] };
            out.registry = { server: state.reg.server.trim(), username: state.reg.username, password: state.reg.password };
        }
        if (stored) out.version = stored.version;
        return { body: out };
    }

    const versionEl = h('p', { class: 'help', 'data-field': 'version', 'data-testid': 'config-version' }, stored ? t('configs.version', { v: stored.version, age: age(stored.updatedAt) }) : '');
    const save = h('button', { type: 'submit', 'data-testid': 'config-save' }, t('configs.save'));
    form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        clearFieldErrors(form);
        const got = collect();
        if (got.error) {
            // A row without a name has no field path yet: mark it by its place.
            if (got.row) {
                const rowEl = form.querySelector(`[data-testid="f-${got.row[0]}[${got.row[1]}].name"]`)?.closest('.row');
                if (rowEl) {
                    rowEl.setAttribute('data-field', `${got.row[0]}.#${got.row[1]}`);
                    showFieldError(form, `${got.row[0]}.#${got.row[1]}`, got.error[1]);
                    return;
                }
            }
            showFieldError(form, got.error[0], got.error[1]);
            return;
        }
        save.disabled = true;
        try {
            const r = editing ? await api('PUT', `/configs/${enc(stored.name)}`, got.body) : await api('POST', '/configs', got.body);
            if (editing) {
                toast(t('configs.saved', { name: r.name, v: r.version }), 'ok');
                go(`#/configs/${enc(r.name)}`);
            } else {
                toast(t('configs.created', { name: r.name }), 'ok');
                go(`#/configs/${enc(r.name)}`);
            }
        } catch (e) {
            if (e instanceof ApiError && e.status === 409 && e.field === 'version') showFieldError(form, 'version', t('configs.conflict'));
            else if (!(e instanceof ApiError && e.field && showFieldError(form, e.field, e.message))) toast(e.message, 'error');
        } finally {
            save.disabled = false;
        }
    });

    form.append(
        h(
            'div',
            { class: 'form-grid' },
            h('div', { class: 'field', 'data-field': 'name' }, h('label', { for: 'cf-name' }, t('configs.name')), name, h('p', { class: 'help', id: 'cf-name-help' }, t('configs.name.help'))),
            h(
                'div',
                { class: 'field', 'data-field': 'kind' },
                h('label', { for: 'cf-kind' }, t('configs.kind')),
                kind,
                h('p', { class: 'help', id: 'cf-kind-help' }, editing ? t('configs.kind.fixed') : t('configs.kind.help'))
            )
        ),
        versionEl,
        body,
        h(
            'div',
            { class: 'actions' },
            editing
                ? h(
                      'button',
                      {
                          type: 'button',
                          class: 'danger',
                          'data-testid': `delete-config-${stored.name}`,
                          onclick: () => deleteConfig(stored.name, () => go('#/configs')),
                      },
                      t('configs.delete')
                  )
                : null,
            save
        )
    );
    view.append(
        h('h1', {}, editing ? t('configs.edit.title', { name: stored.name }) : t('configs.new.title')),
        h('div', { class: 'toolbar' }, h('a', { href: '#/configs' }, t('configs.back'))),
        form
    );
}

route('#/configs', configsPage, { nav: 'configs' });
route('#/configs/new', configForm, { nav: 'configs' });
route('#/configs/:name', configForm, { nav: 'configs' });
