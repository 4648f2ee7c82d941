// The create/edit wizard (#/new, #/apps/:name/edit): seven steps (basic, services, volumes,
// registries, advanced, targets, deploy) over one in-memory draft; Save sends POST /apps or
// PUT /apps/{name} (with the version read, so a concurrent change answers 409). A 400 naming a
// field opens the step of that field and shows the message under it: every input's container
// carries data-field="<the server's field path>" (schema/app.c, function.c, selector.c).
//
// Test ids (Selenium):
//   steps:    step-basic step-services step-volumes step-registries step-advanced step-targets
//             step-deploy; wizard-back wizard-next wizard-save; wizard-error (message at the top
//             of a step), wizard-reload (after a 409), name-rules (the name checklist)
//   basic:    f-name f-description f-labels[i].key f-labels[i].value add-label remove-label-i
//             f-type-container f-type-function
//   services: (container) add-service remove-service-i move-up-service-i move-down-service-i
//             f-services[i].name .image .command .args .privileged
//             .resources.limits.cpu .resources.limits.memory .resources.limits.gpuMemory
//             .resources.limits.gpuCompute
//             f-services[i].ports[j].containerPort .hostPort .protocol  add-port-i remove-port-i-j
//             f-services[i].env[j].name .value  add-env-i remove-env-i-j
//             f-services[i].volumeMounts[j].name .mountPath .readOnly .subPath
//                                                    add-mount-i remove-mount-i-j
//             init services: the same with initServices[i] (no ports): add-init-service
//             remove-init-service-i move-up-init-service-i move-down-init-service-i
//             add-init-env-i remove-init-env-i-j add-init-mount-i remove-init-mount-i-j
//             (function) add-function-service remove-function-service-i
//             f-services[i].name .runtime .functionConfig .timeout .image
//             f-services[i].functions[j].name .handler .codedir  add-function-i remove-function-i-j
//             env/mounts/limits as for containers (add-env-i, add-mount-i, ...)
//   volumes:  add-volume remove-volume-i f-volumes[i].name f-volumes[i].kind
//             f-volumes[i].hostPath.path f-volumes[i].config.name .secret.name .certificate.name
//   registries: f-registries-<name> (checkboxes)
//   advanced: f-workload f-replicas f-restartPolicy f-backoffLimit f-hostNetwork f-monitorQps
//   targets:  f-selector.matchLabels[i].key .value add-match-label remove-match-label-i
//             f-selector.matchExpressions[i].key .operator .values add-match-expression
//             remove-match-expression-i; target-preview (ul, li[data-node]), target-count,
//             target-error
//   deploy:   f-deploy.mode-now f-deploy.mode-at f-deploy.at wizard-summary wizard-body
import { ApiError, addStrings, api, apiAll, clearFieldErrors, go, h, route, selectorText, showFieldError, t, toast } from './core.js';

addStrings({
    en: {
        'wiz.title.new': 'New application',
        'wiz.title.edit': 'Edit {name}',
        'wiz.steps': 'Wizard steps',
        'wiz.step.basic': 'Basic',
        'wiz.step.services': 'Services',
        'wiz.step.volumes': 'Volumes',
        'wiz.step.registries': 'Registries',
        'wiz.step.advanced': 'Advanced',
        'wiz.step.targets': 'Targets',
        'wiz.step.deploy': 'Deploy',
        'wiz.back': 'Back',
        'wiz.next': 'Next',
        'wiz.save': 'Save',
        'wiz.saving': 'Saving…',
        'wiz.cancel': 'Cancel',
        'wiz.saved': 'Saved: version {n}',
        'wiz.conflict': 'Someone else changed this application since you opened it. Reload to see their version (your changes here are lost).',
        'wiz.reload': 'Reload',
        'wiz.required': 'is required',
        'wiz.remove': 'Remove',
        'wiz.up': 'Move up',
        'wiz.down': 'Move down',
        'wiz.none': 'none',
        'wiz.choose': '— choose —',
        'wiz.name': 'Name',
        'wiz.name.len': '1 to 63 characters',
        'wiz.name.chars': 'only lowercase letters, digits and "-"',
        'wiz.name.ends': 'starts and ends with a letter or digit',
        'wiz.name.fixed': 'The name cannot be changed.',
        'wiz.description': 'Description',
        'wiz.labels': 'Labels',
        'wiz.labels.help': 'Key/value pairs to organise applications (Kubernetes label rules).',
        'wiz.key': 'Key',
        'wiz.value': 'Value',
        'wiz.add.label': 'Add label',
        'wiz.type': 'Application type',
        'wiz.type.container': 'Containers',
        'wiz.type.container.help': 'One or more container images run as a pod on each node.',
        'wiz.type.function': 'Functions',
        'wiz.type.function.help': 'python3, nodejs10 or sql functions served on the node gateway as POST /{service}/{function}.',
        'wiz.services': 'Services',
        'wiz.service': 'Service {n}',
        'wiz.initServices': 'Init services',
        'wiz.initServices.help': 'Run one at a time, in order, before the services; each must exit 0.',
        'wiz.initService': 'Init service {n}',
        'wiz.add.service': 'Add service',
        'wiz.add.initService': 'Add init service',
        'wiz.image': 'Image',
        'wiz.command': 'Command',
        'wiz.args': 'Arguments',
        'wiz.argv.help': 'One argument per line.',
        'wiz.ports': 'Ports',
        'wiz.containerPort': 'Container port',
        'wiz.hostPort': 'Host port',
        'wiz.protocol': 'Protocol',
        'wiz.add.port': 'Add port',
        'wiz.env': 'Environment',
        'wiz.env.name': 'Variable',
        'wiz.add.env': 'Add variable',
        'wiz.mounts': 'Volume mounts',
        'wiz.mounts.help': 'Mount a volume defined in the Volumes step.',
        'wiz.mount.volume': 'Volume',
        'wiz.mountPath': 'Mount path',
        'wiz.readOnly': 'Read-only',
        'wiz.subPath': 'Sub path',
        'wiz.add.mount': 'Add mount',
        'wiz.limits': 'Resource limits',
        'wiz.cpu': 'CPU (cores)',
        'wiz.cpu.help': 'e.g. 0.5, 2 or 500m',
        'wiz.memory': 'Memory',
        'wiz.memory.help': 'e.g. 64Mi, 1Gi; at least 4Mi',
        'wiz.gpuMemory': 'GPU memory (units of 256 MB)',
        'wiz.gpuMemory.help': '1–4096; needs GPU compute too',
        'wiz.gpuCompute': 'GPU compute (%)',
        'wiz.gpuCompute.help': '1–100 percent of the GPU',
        'wiz.privileged': 'Privileged',
        'wiz.fservices': 'Function services',
        'wiz.fservice': 'Function service {n}',
        'wiz.add.fservice': 'Add function service',
        'wiz.runtime': 'Runtime',
        'wiz.functionConfig': 'Function code (config object)',
        'wiz.functionConfig.help': 'A config object of kind config holding the code files.',
        'wiz.timeout': 'Timeout (s)',
        'wiz.fimage': 'Image (optional)',
        'wiz.functions': 'Functions',
        'wiz.function.name': 'Function name',
        'wiz.handler': 'Handler',
        'wiz.handler.help': 'file.function (python3, nodejs10) or a .sql file',
        'wiz.codedir': 'Code folder',
        'wiz.add.function': 'Add function',
        'wiz.volumes': 'Volumes',
        'wiz.volumes.help': 'Volumes the services mount (Services step).',
        'wiz.volume': 'Volume {n}',
        'wiz.add.volume': 'Add volume',
        'wiz.kind': 'Kind',
        'wiz.kind.hostPath': 'Host path',
        'wiz.kind.config': 'Config',
        'wiz.kind.secret': 'Secret',
        'wiz.kind.certificate': 'Certificate',
        'wiz.kind.emptyDir': 'Empty directory',
        'wiz.path': 'Path on the node',
        'wiz.object': 'Object',
        'wiz.noObjects': 'No config objects of this kind in this namespace.',
        'wiz.registries': 'Registries',
        'wiz.registries.help': 'Registry credentials used to pull the images.',
        'wiz.noRegistries': 'No registry objects in this namespace.',
        'wiz.workload': 'Workload',
        'wiz.workload.deployment': 'Deployment',
        'wiz.workload.daemonset': 'Daemon set',
        'wiz.workload.job': 'Job',
        'wiz.workload.help': 'Deployment: keep replicas running on each node. Daemon set: one pod per node. Job: run to completion.',
        'wiz.workload.fn': 'Function apps run as a deployment or a daemon set.',
        'wiz.replicas': 'Replicas',
        'wiz.replicas.help': 'Pods per node (1–64); a host port allows only 1.',
        'wiz.replicas.fn': 'Function apps run one replica.',
        'wiz.restartPolicy': 'Restart policy',
        'wiz.restartPolicy.help': 'Deployments and daemon sets always restart; a job restarts Never or OnFailure.',
        'wiz.backoffLimit': 'Backoff limit',
        'wiz.backoffLimit.help': 'Job only: restarts allowed with OnFailure (0–100, default 6).',
        'wiz.hostNetwork': 'Use the host network',
        'wiz.hostNetwork.help': 'The pod shares the node\'s network; no port mappings.',
        'wiz.monitorQps': 'Collect call statistics',
        'wiz.monitorQps.help': 'The node gateway counts calls, errors and latency (see the app\'s statistics).',
        'wiz.selector': 'Node selector',
        'wiz.selector.help': 'Every label and every expression must match. No selector: every node.',
        'wiz.matchLabels': 'Match labels',
        'wiz.matchExpressions': 'Match expressions',
        'wiz.add.matchLabel': 'Add label',
        'wiz.add.matchExpression': 'Add expression',
        'wiz.operator': 'Operator',
        'wiz.values': 'Values',
        'wiz.values.help': 'Comma-separated',
        'wiz.preview': 'Matching nodes',
        'wiz.preview.count': 'Matching nodes: {n}',
        'wiz.preview.more': 'showing the first {n}',
        'wiz.preview.incomplete': 'Complete the expression (a key, and values for In and NotIn) to see the matching nodes.',
        'wiz.deploy': 'When to deploy',
        'wiz.deploy.now': 'Deploy now',
        'wiz.deploy.at': 'Deploy at a time',
        'wiz.deploy.time': 'Date and time (your local time)',
        'wiz.deploy.utc': 'Sent as {t} (UTC)',
        'wiz.summary': 'Summary',
        'wiz.body': 'Request body',
        'wiz.sum.name': 'Name',
        'wiz.sum.type': 'Type',
        'wiz.sum.services': 'Services',
        'wiz.sum.initServices': 'Init services',
        'wiz.sum.volumes': 'Volumes',
        'wiz.sum.registries': 'Registries',
        'wiz.sum.workload': 'Workload',
        'wiz.sum.selector': 'Selector',
        'wiz.sum.deploy': 'Deploy',
        'wiz.sum.version': 'Current version',
    },
    zh: {
        'wiz.title.new': '新建应用',
        'wiz.title.edit': '编辑 {name}',
        'wiz.steps': '向导步骤',
        'wiz.step.basic': '基本信息',
        'wiz.step.services': '服务',
        'wiz.step.volumes': '存储卷',
        'wiz.step.registries': '镜像仓库',
        'wiz.step.advanced': '高级设置',
        'wiz.step.targets': '目标节点',
        'wiz.step.deploy': '部署',
        'wiz.back': '上一步',
        'wiz.next': '下一步',
        'wiz.save': '保存',
        'wiz.saving': '保存中…',
        'wiz.cancel': '取消',
        'wiz.saved': '已保存：版本 {n}',
        'wiz.conflict': '自您打开后，其他人修改了此应用。请重新加载查看其版本（您在此处的修改将丢失）。',
        'wiz.reload': '重新加载',
        'wiz.required': '为必填项',
        'wiz.remove': '删除',
        'wiz.up': '上移',
        'wiz.down': '下移',
        'wiz.none': '无',
        'wiz.choose': '— 请选择 —',
        'wiz.name': '名称',
        'wiz.name.len': '1 到 63 个字符',
        'wiz.name.chars': '只含小写字母、数字和“-”',
        'wiz.name.ends': '以字母或数字开头和结尾',
        'wiz.name.fixed': '名称不可修改。',
        'wiz.description': '描述',
        'wiz.labels': '标签',
        'wiz.labels.help': '用于组织应用的键值对（Kubernetes 标签规则）。',
        'wiz.key': '键',
        'wiz.value': '值',
        'wiz.add.label': '添加标签',
        'wiz.type': '应用类型',
        'wiz.type.container': '容器',
        'wiz.type.container.help': '一个或多个容器镜像，在每个节点上作为一个 Pod 运行。',
        'wiz.type.function': '函数',
        'wiz.type.function.help': 'python3、nodejs10 或 sql 函数，在节点网关上以 POST /{service}/{function} 提供服务。',
        'wiz.services': '服务',
        'wiz.service': '服务 {n}',
        'wiz.initServices': '初始化服务',
        'wiz.initServices.help': '在服务之前按顺序逐个运行；每个都必须以 0 退出。',
        'wiz.initService': '初始化服务 {n}',
        'wiz.add.service': '添加服务',
        'wiz.add.initService': '添加初始化服务',
        'wiz.image': '镜像',
        'wiz.command': '命令',
        'wiz.args': '参数',
        'wiz.argv.help': '每行一个参数。',
        'wiz.ports': '端口',
        'wiz.containerPort': '容器端口',
        'wiz.hostPort': '主机端口',
        'wiz.protocol': '协议',
        'wiz.add.port': '添加端口',
        'wiz.env': '环境变量',
        'wiz.env.name': '变量',
        'wiz.add.env': '添加变量',
        'wiz.mounts': '卷挂载',
        'wiz.mounts.help': '挂载在“存储卷”步骤中定义的卷。',
        'wiz.mount.volume': '卷',
        'wiz.mountPath': '挂载路径',
        'wiz.readOnly': '只读',
        'wiz.subPath': '子路径',
        'wiz.add.mount': '添加挂载',
        'wiz.limits': '资源限制',
        'wiz.cpu': 'CPU（核）',
        'wiz.cpu.help': '例如 0.5、2 或 500m',
        'wiz.memory': '内存',
        'wiz.memory.help': '例如 64Mi、1Gi；至少 4Mi',
        'wiz.gpuMemory': 'GPU 显存（单位 256 MB）',
        'wiz.gpuMemory.help': '1–4096；同时需要设置 GPU 算力',
        'wiz.gpuCompute': 'GPU 算力（%）',
        'wiz.gpuCompute.help': 'GPU 算力的 1–100%',
        'wiz.privileged': '特权模式',
        'wiz.fservices': '函数服务',
        'wiz.fservice': '函数服务 {n}',
        'wiz.add.fservice': '添加函数服务',
        'wiz.runtime': '运行时',
        'wiz.functionConfig': '函数代码（配置项）',
        'wiz.functionConfig.help': '保存代码文件的 config 类型配置项。',
        'wiz.timeout': '超时（秒）',
        'wiz.fimage': '镜像（可选）',
        'wiz.functions': '函数',
        'wiz.function.name': '函数名',
        'wiz.handler': '处理函数',
        'wiz.handler.help': '文件.函数（python3、nodejs10）或 .sql 文件',
        'wiz.codedir': '代码目录',
        'wiz.add.function': '添加函数',
        'wiz.volumes': '存储卷',
        'wiz.volumes.help': '服务挂载的卷（见“服务”步骤）。',
        'wiz.volume': '卷 {n}',
        'wiz.add.volume': '添加卷',
        'wiz.kind': '类型',
        'wiz.kind.hostPath': '主机路径',
        'wiz.kind.config': '配置',
        'wiz.kind.secret': '密钥',
        'wiz.kind.certificate': '证书',
        'wiz.kind.emptyDir': '空目录',
        'wiz.path': '节点上的路径',
        'wiz.object': '对象',
        'wiz.noObjects': '此命名空间中没有该类型的配置项。',
        'wiz.registries': '镜像仓库',
        'wiz.registries.help': '拉取镜像时使用的仓库凭据。',
        'wiz.noRegistries': '此命名空间中没有镜像仓库对象。',
        'wiz.workload': '工作负载',
        'wiz.workload.deployment': '部署（Deployment）',
        'wiz.workload.daemonset': '守护进程集（DaemonSet）',
        'wiz.workload.job': '任务（Job）',
        'wiz.workload.help': 'Deployment：在每个节点上保持指定副本数运行。DaemonSet：每个节点一个 Pod。Job：运行至完成。',
        'wiz.workload.fn': '函数应用以 Deployment 或 DaemonSet 运行。',
        'wiz.replicas': '副本数',
        'wiz.replicas.help': '每个节点的 Pod 数（1–64）；使用主机端口时只能为 1。',
        'wiz.replicas.fn': '函数应用只运行一个副本。',
        'wiz.restartPolicy': '重启策略',
        'wiz.restartPolicy.help': 'Deployment 和 DaemonSet 总是重启；Job 为 Never 或 OnFailure。',
        'wiz.backoffLimit': '重试上限',
        'wiz.backoffLimit.help': '仅 Job：OnFailure 时允许的重启次数（0–100，默认 6）。',
        'wiz.hostNetwork': '使用主机网络',
        'wiz.hostNetwork.help': 'Pod 共享节点网络；不做端口映射。',
        'wiz.monitorQps': '收集调用统计',
        'wiz.monitorQps.help': '节点网关统计调用次数、错误和延迟（见应用的统计）。',
        'wiz.selector': '节点选择器',
        'wiz.selector.help': '所有标签和所有表达式都须匹配。无选择器：所有节点。',
        'wiz.matchLabels': '匹配标签',
        'wiz.matchExpressions': '匹配表达式',
        'wiz.add.matchLabel': '添加标签',
        'wiz.add.matchExpression': '添加表达式',
        'wiz.operator': '运算符',
        'wiz.values': '值',
        'wiz.values.help': '用逗号分隔',
        'wiz.preview': '匹配的节点',
        'wiz.preview.count': '匹配 {n} 个节点',
        'wiz.preview.more': '显示前 {n} 个',
        'wiz.preview.incomplete': '请补全表达式（键，以及 In 和 NotIn 的值）以查看匹配的节点。',
        'wiz.deploy': '部署时间',
        'wiz.deploy.now': '立即部署',
        'wiz.deploy.at': '定时部署',
        'wiz.deploy.time': '日期和时间（本地时间）',
        'wiz.deploy.utc': '以 {t}（UTC）发送',
        'wiz.summary': '摘要',
        'wiz.body': '请求内容',
        'wiz.sum.name': '名称',
        'wiz.sum.type': '类型',
        'wiz.sum.services': '服务',
        'wiz.sum.initServices': '初始化服务',
        'wiz.sum.volumes': '存储卷',
        'wiz.sum.registries': '镜像仓库',
        'wiz.sum.workload': '工作负载',
        'wiz.sum.selector': '选择器',
        'wiz.sum.deploy': '部署',
        'wiz.sum.version': '当前版本',
    },
});

const STEPS = ['basic', 'services', 'volumes', 'registries', 'advanced', 'targets', 'deploy'];
const VOLUME_KINDS = ['hostPath', 'config', 'secret', 'certificate', 'emptyDir'];
const REF_KINDS = ['config', 'secret', 'certificate'];
const RUNTIMES = ['python3', 'nodejs10', 'sql'];
const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

// ---- the draft: what the inputs hold (strings), turned into the app body by toBody ----------

const str = (v) => (v === undefined || v === null ? '' : String(v));

function newService() {
    return { name: '', image: '', ports: [], env: [], command: '', args: '', mounts: [], cpu: '', memory: '', gpuMemory: '', gpuCompute: '', privileged: false };
}

function newFunctionService() {
    return { name: '', runtime: 'python3', functionConfig: '', functions: [{ name: '', handler: '', codedir: '' }], timeout: '', image: '', env: [], mounts: [], cpu: '', memory: '', gpuMemory: '', gpuCompute: '' };
}

function emptyDraft() {
    return {
        name: '',
        description: '',
        labels: [],
        type: 'container',
        services: [newService()],
        initServices: [],
        fservices: [newFunctionService()],
        volumes: [],
        registries: [],
        workload: 'deployment',
        replicas: '1',
        restartPolicy: '',
        backoffLimit: '',
        hostNetwork: false,
        monitorQps: false,
        matchLabels: [],
        matchExpressions: [],
        deployMode: 'now',
        deployAt: '',
        version: null,
    };
}

function pairs(obj) {
    return Object.entries(obj || {}).map(([k, v]) => ({ k, v: str(v) }));
}

function commonFromApp(s, x) {
    const lim = (s.resources && s.resources.limits) || {};
    x.env = (s.env || []).map((e) => ({ name: str(e.name), value: str(e.value) }));
    x.mounts = (s.volumeMounts || []).map((m) => ({ name: str(m.name), mountPath: str(m.mountPath), readOnly: !!m.readOnly, subPath: str(m.subPath) }));
    x.cpu = str(lim.cpu);
    x.memory = str(lim.memory);
    x.gpuMemory = str(lim.gpuMemory);
    x.gpuCompute = str(lim.gpuCompute);
    x.image = str(s.image);
    x.name = str(s.name);
    return x;
}

function serviceFromApp(s) {
    const x = commonFromApp(s, newService());
    x.ports = (s.ports || []).map((p) => ({ containerPort: str(p.containerPort), hostPort: str(p.hostPort), protocol: p.protocol || 'TCP' }));
    x.command = (s.command || []).join('\n');
    x.args = (s.args || []).join('\n');
    x.privileged = !!s.privileged;
    return x;
}

function functionServiceFromApp(s) {
    const x = commonFromApp(s, newFunctionService());
    x.runtime = s.runtime || 'python3';
    x.functionConfig = str(s.functionConfig);
    x.functions = (s.functions || []).map((f) => ({ name: str(f.name), handler: str(f.handler), codedir: str(f.codedir) }));
    x.timeout = str(s.timeout);
    return x;
}

// A datetime-local value (local time) from an RFC 3339 instant, and back to UTC.
function toLocalInput(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return '';
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function toUtc(local) {
    if (!local) return '';
    const d = new Date(local);
    if (isNaN(d)) return local; // the server says what is wrong with it
    return d.toISOString().replace(/\.000Z$/, 'Z');
}

function draftFromApp(app) {
    const d = emptyDraft();
    d.name = str(app.name);
    d.description = str(app.description);
    d.labels = pairs(app.labels);
    d.type = app.type === 'function' ? 'function' : 'container';
    if (d.type === 'function') d.fservices = (app.services || []).map(functionServiceFromApp);
    else d.services = (app.services || []).map(serviceFromApp);
    d.initServices = (app.initServices || []).map(serviceFromApp);
    d.volumes = (app.volumes || []).map((v) => {
        const kind = VOLUME_KINDS.find((k) => v[k] !== undefined) || 'emptyDir';
        return { name: str(v.name), kind, path: str(v.hostPath && v.hostPath.path), ref: str(REF_KINDS.includes(kind) ? v[kind].name : '') };
    });
    d.registries = [...(app.registries || [])];
    d.workload = app.workload || 'deployment';
    d.replicas = str(app.replicas || 1);
    d.restartPolicy = str(app.restartPolicy);
    d.backoffLimit = app.workload === 'job' ? str(app.backoffLimit) : '';
    d.hostNetwork = !!app.hostNetwork;
    d.monitorQps = !!app.monitorQps;
    const sel = app.selector || {};
    d.matchLabels = pairs(sel.matchLabels);
    d.matchExpressions = (sel.matchExpressions || []).map((e) => ({ key: str(e.key), operator: e.operator || 'In', values: (e.values || []).join(', ') }));
    if (app.deploy && app.deploy.at) {
        d.deployMode = 'at';
        d.deployAt = toLocalInput(app.deploy.at);
    }
    d.version = app.version;
    return d;
}

// A number input's value as a JSON integer when it is one, else the text (the server names it).
function num(v) {
    const s = String(v).trim();
    return /^-?\d+$/.test(s) ? Number(s) : s;
}

function lines(text) {
    const a = String(text).replace(/\r/g, '').split('\n');
    while (a.length && a[a.length - 1] === '') a.pop();
    return a;
}

function objOf(rows) {
    const o = {};
    for (const r of rows) if (r.k !== '' || r.v !== '') o[r.k] = r.v;
    return o;
}

function limitsOf(s) {
    const l = {};
    if (s.cpu.trim()) l.cpu = s.cpu.trim();
    if (s.memory.trim()) l.memory = s.memory.trim();
    if (String(s.gpuMemory).trim()) l.gpuMemory = num(s.gpuMemory);
    if (String(s.gpuCompute).trim()) l.gpuCompute = num(s.gpuCompute);
    return Object.keys(l).length ? { limits: l } : undefined;
}

function commonToBody(s, out) {
    if (s.env.length) out.env = s.env.map((e) => (e.value === '' ? { name: e.name } : { name: e.name, value: e.value }));
    if (s.mounts.length)
        out.volumeMounts = s.mounts.map((m) => {
            const o = { name: m.name, mountPath: m.mountPath };
            if (m.readOnly) o.readOnly = true;
            if (m.subPath) o.subPath = m.subPath;
            return o;
        });
    const r = limitsOf(s);
    if (r) out.resources = r;
    return out;
}

function serviceToBody(s, init) {
    const o = { name: s.name, image: s.image };
    const cmd = lines(s.command);
    const args = lines(s.args);
    if (cmd.length) o.command = cmd;
    if (args.length) o.args = args;
    commonToBody(s, o);
    if (!init && s.ports.length)
        o.ports = s.ports.map((p) => {
            const x = { containerPort: num(p.containerPort) };
            if (String(p.hostPort).trim()) x.hostPort = num(p.hostPort);
            if (p.protocol && p.protocol !== 'TCP') x.protocol = p.protocol;
            return x;
        });
    if (s.privileged) o.privileged = true;
    return o;
}

function functionServiceToBody(s) {
    const o = { name: s.name, runtime: s.runtime, functionConfig: s.functionConfig };
    o.functions = s.functions.map((f) => {
        const x = { name: f.name, handler: f.handler };
        if (f.codedir) x.codedir = f.codedir;
        return x;
    });
    if (String(s.timeout).trim()) o.timeout = num(s.timeout);
    if (s.image.trim()) o.image = s.image.trim();
    return commonToBody(s, o);
}

function selectorOf(d) {
    const sel = {};
    const ml = objOf(d.matchLabels);
    if (Object.keys(ml).length) sel.matchLabels = ml;
    const me = d.matchExpressions
        .filter((e) => e.key !== '' || e.values.trim() !== '')
        .map((e) => {
            const x = { key: e.key.trim(), operator: e.operator };
            if (e.operator === 'In' || e.operator === 'NotIn')
                x.values = e.values
                    .split(',')
                    .map((v) => v.trim())
                    .filter((v) => v !== '');
            return x;
        });
    if (me.length) sel.matchExpressions = me;
    return Object.keys(sel).length ? sel : null;
}

function toBody(d, edit) {
    const b = { name: d.name.trim() };
    if (edit && d.version !== null && d.version !== undefined) b.version = d.version;
    b.type = d.type;
    if (d.description !== '') b.description = d.description;
    const labels = objOf(d.labels);
    if (Object.keys(labels).length) b.labels = labels;
    const sel = selectorOf(d);
    if (sel) b.selector = sel;
    if (d.volumes.length)
        b.volumes = d.volumes.map((v) => {
            const o = { name: v.name };
            if (v.kind === 'hostPath') o.hostPath = { path: v.path };
            else if (v.kind === 'emptyDir') o.emptyDir = {};
            else o[v.kind] = { name: v.ref };
            return o;
        });
    if (d.type === 'function') {
        b.services = d.fservices.map(functionServiceToBody);
    } else {
        if (d.initServices.length) b.initServices = d.initServices.map((s) => serviceToBody(s, true));
        b.services = d.services.map((s) => serviceToBody(s, false));
    }
    if (d.registries.length) b.registries = [...d.registries];
    const wl = d.type === 'function' && d.workload === 'job' ? 'deployment' : d.workload;
    b.workload = wl;
    if (wl !== 'daemonset' && d.type !== 'function' && String(d.replicas).trim() !== '') b.replicas = num(d.replicas);
    if (wl === 'job') {
        if (d.restartPolicy === 'Never' || d.restartPolicy === 'OnFailure') b.restartPolicy = d.restartPolicy;
        if (String(d.backoffLimit).trim() !== '') b.backoffLimit = num(d.backoffLimit);
    }
    if (d.hostNetwork) b.hostNetwork = true;
    if (d.monitorQps) b.monitorQps = true;
    if (d.deployMode === 'at') b.deploy = { at: toUtc(d.deployAt) };
    return b;
}

// Which step holds a field the server names.
function stepOf(field) {
    const f = field || '';
    const head = f.split(/[.[]/)[0];
    if (['name', 'description', 'labels', 'type'].includes(head)) return 'basic';
    if (head === 'services' || head === 'initServices') return 'services';
    if (head === 'volumes') return 'volumes';
    if (head === 'registries') return 'registries';
    if (['workload', 'replicas', 'restartPolicy', 'backoffLimit', 'hostNetwork', 'monitorQps'].includes(head)) return 'advanced';
    if (head === 'selector') return 'targets';
    return 'deploy';
}

// ---- DOM pieces -----------------------------------------------------------------------------

let uid = 0;
const idOf = (path) => `wiz-${path.replace(/[^A-Za-z0-9_-]/g, '_')}-${++uid}`;

// A labelled input in a .field container: f = {path, label, value, oninput, type, help, ...}.
function field(path, label, control, opts) {
    const o = opts || {};
    const id = control.id || idOf(path);
    control.id = id;
    if (!control.hasAttribute('data-testid')) control.setAttribute('data-testid', `f-${path}`);
    const help = o.help ? h('div', { class: 'help', id: `${id}-help` }, o.help) : null;
    if (help) control.setAttribute('aria-describedby', help.id);
    if (control.type === 'checkbox')
        return h('div', { class: `field inline${o.wide ? ' wide' : ''}`, 'data-field': path }, control, h('label', { for: id }, label), help);
    return h('div', { class: `field${o.wide ? ' wide' : ''}`, 'data-field': path }, h('label', { for: id }, label), control, help);
}

function textInput(value, set, attrs) {
    return h('input', { type: 'text', value, autocomplete: 'off', spellcheck: 'false', oninput: (e) => set(e.target.value), ...(attrs || {}) });
}

function numInput(value, set, attrs) {
    return h('input', { type: 'number', value, oninput: (e) => set(e.target.value), ...(attrs || {}) });
}

function checkbox(checked, set, attrs) {
    return h('input', { type: 'checkbox', checked, onchange: (e) => set(e.target.checked), ...(attrs || {}) });
}

function select(value, options, set, attrs) {
    // options: [[value, text]]; a value not among them is kept as an option of its own.
    const opts = [...options];
    if (value !== '' && !opts.some(([v]) => v === value)) opts.push([value, value]);
    const el = h('select', { onchange: (e) => set(e.target.value), ...(attrs || {}) }, opts.map(([v, text]) => h('option', { value: v }, text)));
    el.value = value;
    return el;
}

function smallButton(testid, text, onclick, cls, label) {
    return h('button', { type: 'button', class: `small ${cls || 'secondary'}`, 'data-testid': testid, 'aria-label': label || null, onclick }, text);
}

function swap(list, i, j) {
    if (j < 0 || j >= list.length) return;
    [list[i], list[j]] = [list[j], list[i]];
}

// ---- the page -------------------------------------------------------------------------------

async function wizardPage(view, params) {
    const edit = params.name !== undefined;
    let draft = emptyDraft();
    if (edit) draft = draftFromApp(await api('GET', `/apps/${encodeURIComponent(params.name)}`));
    // config objects by kind, for the selects (function code, volumes, registries)
    const objects = {};
    const kinds = ['config', 'secret', 'certificate', 'registry'];
    const lists = await Promise.all(kinds.map((k) => apiAll(`/configs?kind=${k}`).catch(() => [])));
    kinds.forEach((k, i) => (objects[k] = lists[i].map((c) => c.name).sort()));

    let step = STEPS.includes(params.query.get('step')) ? params.query.get('step') : 'basic';
    let previewTimer = null;
    let previewSeq = 0;
    let saving = false;
    let alive = true;
    let errorStep = null; // the step of the last error the server named (marked in the bar)

    const stepRoot = h('section', { class: 'card wizard-step', 'aria-labelledby': 'wiz-step-title' });
    const stepBar = h('ol', { class: 'steps' });
    const backBtn = h('button', { type: 'button', class: 'secondary', 'data-testid': 'wizard-back', onclick: () => show(STEPS[STEPS.indexOf(step) - 1]) }, t('wiz.back'));
    const nextBtn = h('button', { type: 'button', class: 'secondary', 'data-testid': 'wizard-next', onclick: () => show(STEPS[STEPS.indexOf(step) + 1]) }, t('wiz.next'));
    const saveBtn = h('button', { type: 'button', 'data-testid': 'wizard-save', onclick: () => save() }, t('wiz.save'));
    const cancelLink = h('a', { class: 'button secondary', href: edit ? `#/apps/${encodeURIComponent(draft.name)}` : '#/apps', 'data-testid': 'wizard-cancel' }, t('wiz.cancel'));

    view.append(
        h('h1', {}, edit ? t('wiz.title.edit', { name: draft.name }) : t('wiz.title.new')),
        h('nav', { 'aria-label': t('wiz.steps') }, stepBar),
        h(
            'form',
            { class: 'wizard', novalidate: true, onsubmit: (e) => e.preventDefault() },
            stepRoot,
            h('div', { class: 'wizard-nav' }, h('div', { class: 'actions' }, backBtn, cancelLink), h('div', { class: 'actions' }, nextBtn, saveBtn))
        )
    );

    function renderBar() {
        stepBar.replaceChildren(
            ...STEPS.map((s) =>
                h(
                    'li',
                    { class: s === step ? 'current' : s === errorStep ? 'has-error' : null },
                    h('button', { type: 'button', 'data-testid': `step-${s}`, 'aria-current': s === step ? 'step' : null, onclick: () => show(s) }, t(`wiz.step.${s}`))
                )
            )
        );
        backBtn.disabled = step === STEPS[0];
        nextBtn.disabled = step === STEPS[STEPS.length - 1];
    }

    // Shows a step (re-rendered from the draft); focus goes to its heading unless keepFocus.
    function show(s, opts) {
        if (!s) return;
        const o = opts || {};
        step = s;
        clearTimeout(previewTimer);
        if (o.errorStep !== undefined) errorStep = o.errorStep;
        renderBar();
        const builders = { basic: stepBasic, services: stepServices, volumes: stepVolumes, registries: stepRegistries, advanced: stepAdvanced, targets: stepTargets, deploy: stepDeploy };
        stepRoot.replaceChildren(h('h2', { id: 'wiz-step-title', tabindex: '-1' }, t(`wiz.step.${s}`)), h('div', { class: 'step-alert', 'data-testid': 'wizard-error-slot' }), builders[s]());
        stepRoot.setAttribute('data-step', s);
        if (o.focus) {
            const el = stepRoot.querySelector(`[data-testid="${CSS.escape(o.focus)}"]`);
            if (el) el.focus();
        } else if (!o.keepFocus) stepRoot.querySelector('h2').focus();
    }

    // Re-renders the current step after a structural change (a row added, removed or moved),
    // then focuses the element with test id focus (or the heading).
    const rerender = (focus) => show(step, { focus, keepFocus: !focus });

    function stepAlert(content) {
        const slot = stepRoot.querySelector('.step-alert');
        slot.replaceChildren(h('div', { class: 'error wizard-error toolbar', role: 'alert', 'data-testid': 'wizard-error' }, content));
    }

    // ---- step 1: basic
    function stepBasic() {
        const rules = [
            ['len', (v) => v.length >= 1 && v.length <= 63],
            ['chars', (v) => v.length > 0 && /^[a-z0-9-]*$/.test(v)],
            ['ends', (v) => /^[a-z0-9]/.test(v) && /[a-z0-9]$/.test(v)],
        ];
        const ruleList = h('ul', { class: 'rules', id: 'wiz-name-rules', 'data-testid': 'name-rules' });
        const paint = (v) =>
            ruleList.replaceChildren(
                ...rules.map(([k, ok]) => h('li', { class: ok(v) ? 'ok' : 'bad', 'data-rule': k }, t(`wiz.name.${k}`)))
            );
        paint(draft.name);
        const nameInput = textInput(draft.name, (v) => {
            draft.name = v;
            paint(v);
        }, { readonly: edit || null, required: true, maxlength: '253', 'aria-describedby': 'wiz-name-rules' });
        const nameField = h(
            'div',
            { class: 'field', 'data-field': 'name' },
            h('label', { for: 'wiz-name' }, t('wiz.name')),
            nameInput,
            edit ? h('div', { class: 'help' }, t('wiz.name.fixed')) : ruleList
        );
        nameInput.id = 'wiz-name';
        nameInput.setAttribute('data-testid', 'f-name');
        if (edit) nameInput.removeAttribute('aria-describedby');

        const desc = h('textarea', { rows: '2', maxlength: '1024', oninput: (e) => (draft.description = e.target.value) });
        desc.value = draft.description;

        const typeRadio = (v) => {
            const id = `wiz-type-${v}`;
            return h(
                'div',
                { class: 'field inline' },
                h('input', { type: 'radio', name: 'wiz-type', id, value: v, checked: draft.type === v, 'data-testid': `f-type-${v}`, 'aria-describedby': `${id}-help`, onchange: () => (draft.type = v) }),
                h('label', { for: id }, t(`wiz.type.${v}`)),
                h('span', { class: 'help', id: `${id}-help` }, t(`wiz.type.${v}.help`))
            );
        };

        return h(
            'div',
            {},
            h('div', { class: 'form-grid' }, nameField, field('description', t('wiz.description'), desc, { wide: true })),
            kvRows('labels', t('wiz.labels'), t('wiz.labels.help'), draft.labels, 'label', t('wiz.add.label')),
            h('fieldset', { 'data-field': 'type' }, h('legend', {}, t('wiz.type')), typeRadio('container'), typeRadio('function'))
        );
    }

    // Key/value rows (labels, matchLabels): data-field on the fieldset (the server names the map).
    function kvRows(path, legend, help, rows, name, addText) {
        const testName = name === 'label' ? 'label' : 'match-label';
        return h(
            'fieldset',
            { 'data-field': path, class: 'rows' },
            h('legend', {}, legend),
            help ? h('p', { class: 'help' }, help) : null,
            rows.map((r, i) =>
                h(
                    'div',
                    { class: 'row' },
                    field(`${path}[${i}].key`, t('wiz.key'), textInput(r.k, (v) => (r.k = v))),
                    field(`${path}[${i}].value`, t('wiz.value'), textInput(r.v, (v) => (r.v = v))),
                    smallButton(`remove-${testName}-${i}`, t('wiz.remove'), () => {
                        rows.splice(i, 1);
                        rerender();
                        if (path.startsWith('selector')) schedulePreview();
                    }, 'link', `${t('wiz.remove')} ${legend} ${i + 1}`)
                )
            ),
            smallButton(`add-${testName}`, addText, () => {
                rows.push({ k: '', v: '' });
                rerender(`f-${path}[${rows.length - 1}].key`);
            })
        );
    }

    // ---- step 2: services
    function stepServices() {
        if (draft.type === 'function') {
            return h(
                'div',
                {},
                h('p', { class: 'help' }, t('wiz.type.function.help')),
                draft.fservices.map((s, i) => functionServiceBox(s, i)),
                smallButton('add-function-service', t('wiz.add.fservice'), () => {
                    draft.fservices.push(newFunctionService());
                    rerender(`f-services[${draft.fservices.length - 1}].name`);
                })
            );
        }
        return h(
            'div',
            {},
            h(
                'fieldset',
                { 'data-field': 'services' },
                h('legend', {}, t('wiz.services')),
                draft.services.map((s, i) => serviceBox(s, i, false)),
                smallButton('add-service', t('wiz.add.service'), () => {
                    draft.services.push(newService());
                    rerender(`f-services[${draft.services.length - 1}].name`);
                })
            ),
            h(
                'fieldset',
                { 'data-field': 'initServices' },
                h('legend', {}, t('wiz.initServices')),
                h('p', { class: 'help' }, t('wiz.initServices.help')),
                draft.initServices.map((s, i) => serviceBox(s, i, true)),
                smallButton('add-init-service', t('wiz.add.initService'), () => {
                    draft.initServices.push(newService());
                    rerender(`f-initServices[${draft.initServices.length - 1}].name`);
                })
            )
        );
    }

    function moveButtons(list, i, tid, what) {
        return [
            smallButton(`move-up-${tid}-${i}`, '↑', () => {
                swap(list, i, i - 1);
                rerender(`move-up-${tid}-${Math.max(0, i - 1)}`);
            }, 'secondary', `${t('wiz.up')}: ${what}`),
            smallButton(`move-down-${tid}-${i}`, '↓', () => {
                swap(list, i, i + 1);
                rerender(`move-down-${tid}-${Math.min(list.length - 1, i + 1)}`);
            }, 'secondary', `${t('wiz.down')}: ${what}`),
        ];
    }

    function serviceBox(s, i, init) {
        const list = init ? draft.initServices : draft.services;
        const p = `${init ? 'initServices' : 'services'}[${i}]`;
        const tid = init ? 'init-service' : 'service';
        const title = t(init ? 'wiz.initService' : 'wiz.service', { n: i + 1 });
        const legendText = s.name ? `${title}: ${s.name}` : title;
        const cmd = h('textarea', { rows: '2', spellcheck: 'false', oninput: (e) => (s.command = e.target.value) });
        cmd.value = s.command;
        const args = h('textarea', { rows: '2', spellcheck: 'false', oninput: (e) => (s.args = e.target.value) });
        args.value = s.args;
        return h(
            'fieldset',
            { class: 'service', 'data-field': p },
            h('legend', {}, legendText),
            h(
                'div',
                { class: 'toolbar' },
                moveButtons(list, i, tid, title),
                smallButton(`remove-${tid}-${i}`, t('wiz.remove'), () => {
                    list.splice(i, 1);
                    rerender();
                }, 'danger', `${t('wiz.remove')}: ${title}`)
            ),
            h(
                'div',
                { class: 'form-grid' },
                field(`${p}.name`, t('wiz.name'), textInput(s.name, (v) => (s.name = v), { required: true })),
                field(`${p}.image`, t('wiz.image'), textInput(s.image, (v) => (s.image = v), { required: true, placeholder: 'nginx:1.25' })),
                field(`${p}.command`, t('wiz.command'), cmd, { help: t('wiz.argv.help') }),
                field(`${p}.args`, t('wiz.args'), args, { help: t('wiz.argv.help') }),
                field(`${p}.privileged`, t('wiz.privileged'), checkbox(s.privileged, (v) => (s.privileged = v)))
            ),
            init ? null : portRows(s, p, i),
            envRows(s, p, i, init ? 'init-' : ''),
            mountRows(s, p, i, init ? 'init-' : ''),
            limitsBox(s, p)
        );
    }

    function portRows(s, p, i) {
        return h(
            'fieldset',
            { class: 'rows', 'data-field': `${p}.ports` },
            h('legend', {}, t('wiz.ports')),
            s.ports.map((port, j) =>
                h(
                    'div',
                    { class: 'row', 'data-field': `${p}.ports[${j}]` },
                    field(`${p}.ports[${j}].containerPort`, t('wiz.containerPort'), numInput(port.containerPort, (v) => (port.containerPort = v), { min: '1', max: '65535' })),
                    field(`${p}.ports[${j}].hostPort`, t('wiz.hostPort'), numInput(port.hostPort, (v) => (port.hostPort = v), { min: '1', max: '65535' })),
                    field(`${p}.ports[${j}].protocol`, t('wiz.protocol'), select(port.protocol, [['TCP', 'TCP'], ['UDP', 'UDP']], (v) => (port.protocol = v))),
                    smallButton(`remove-port-${i}-${j}`, t('wiz.remove'), () => {
                        s.ports.splice(j, 1);
                        rerender();
                    }, 'link', `${t('wiz.remove')} ${t('wiz.ports')} ${j + 1}`)
                )
            ),
            smallButton(`add-port-${i}`, t('wiz.add.port'), () => {
                s.ports.push({ containerPort: '', hostPort: '', protocol: 'TCP' });
                rerender(`f-${p}.ports[${s.ports.length - 1}].containerPort`);
            })
        );
    }

    function envRows(s, p, i, pre) {
        return h(
            'fieldset',
            { class: 'rows', 'data-field': `${p}.env` },
            h('legend', {}, t('wiz.env')),
            s.env.map((e, j) =>
                h(
                    'div',
                    { class: 'row', 'data-field': `${p}.env[${j}]` },
                    field(`${p}.env[${j}].name`, t('wiz.env.name'), textInput(e.name, (v) => (e.name = v))),
                    field(`${p}.env[${j}].value`, t('wiz.value'), textInput(e.value, (v) => (e.value = v))),
                    smallButton(`remove-${pre}env-${i}-${j}`, t('wiz.remove'), () => {
                        s.env.splice(j, 1);
                        rerender();
                    }, 'link', `${t('wiz.remove')} ${t('wiz.env')} ${j + 1}`)
                )
            ),
            smallButton(`add-${pre}env-${i}`, t('wiz.add.env'), () => {
                s.env.push({ name: '', value: '' });
                rerender(`f-${p}.env[${s.env.length - 1}].name`);
            })
        );
    }

    function mountRows(s, p, i, pre) {
        const vols = draft.volumes.map((v) => v.name).filter((n) => n !== '');
        return h(
            'fieldset',
            { class: 'rows', 'data-field': `${p}.volumeMounts` },
            h('legend', {}, t('wiz.mounts')),
            h('p', { class: 'help' }, t('wiz.mounts.help')),
            s.mounts.map((m, j) =>
                h(
                    'div',
                    { class: 'row', 'data-field': `${p}.volumeMounts[${j}]` },
                    field(`${p}.volumeMounts[${j}].name`, t('wiz.mount.volume'), select(m.name, [['', t('wiz.choose')], ...vols.map((n) => [n, n])], (v) => (m.name = v))),
                    field(`${p}.volumeMounts[${j}].mountPath`, t('wiz.mountPath'), textInput(m.mountPath, (v) => (m.mountPath = v), { placeholder: '/data' })),
                    field(`${p}.volumeMounts[${j}].subPath`, t('wiz.subPath'), textInput(m.subPath, (v) => (m.subPath = v))),
                    field(`${p}.volumeMounts[${j}].readOnly`, t('wiz.readOnly'), checkbox(m.readOnly, (v) => (m.readOnly = v))),
                    smallButton(`remove-${pre}mount-${i}-${j}`, t('wiz.remove'), () => {
                        s.mounts.splice(j, 1);
                        rerender();
                    }, 'link', `${t('wiz.remove')} ${t('wiz.mounts')} ${j + 1}`)
                )
            ),
            smallButton(`add-${pre}mount-${i}`, t('wiz.add.mount'), () => {
                s.mounts.push({ name: vols[0] || '', mountPath: '', readOnly: false, subPath: '' });
                rerender(`f-${p}.volumeMounts[${s.mounts.length - 1}].name`);
            })
        );
    }

    function limitsBox(s, p) {
        const l = `${p}.resources.limits`;
        return h(
            'fieldset',
            { 'data-field': `${p}.resources` },
            h('legend', {}, t('wiz.limits')),
            h(
                'div',
                { class: 'form-grid', 'data-field': l },
                field(`${l}.cpu`, t('wiz.cpu'), textInput(s.cpu, (v) => (s.cpu = v), { placeholder: '0.5' }), { help: t('wiz.cpu.help') }),
                field(`${l}.memory`, t('wiz.memory'), textInput(s.memory, (v) => (s.memory = v), { placeholder: '64Mi' }), { help: t('wiz.memory.help') }),
                field(`${l}.gpuMemory`, t('wiz.gpuMemory'), numInput(s.gpuMemory, (v) => (s.gpuMemory = v), { min: '1', max: '4096' }), { help: t('wiz.gpuMemory.help') }),
                field(`${l}.gpuCompute`, t('wiz.gpuCompute'), numInput(s.gpuCompute, (v) => (s.gpuCompute = v), { min: '1', max: '100' }), { help: t('wiz.gpuCompute.help') })
            )
        );
    }

    function functionServiceBox(s, i) {
        const p = `services[${i}]`;
        const title = t('wiz.fservice', { n: i + 1 });
        const configs = objects.config || [];
        return h(
            'fieldset',
            { class: 'service', 'data-field': p },
            h('legend', {}, s.name ? `${title}: ${s.name}` : title),
            h(
                'div',
                { class: 'toolbar' },
                smallButton(`remove-function-service-${i}`, t('wiz.remove'), () => {
                    draft.fservices.splice(i, 1);
                    rerender();
                }, 'danger', `${t('wiz.remove')}: ${title}`)
            ),
            h(
                'div',
                { class: 'form-grid' },
                field(`${p}.name`, t('wiz.name'), textInput(s.name, (v) => (s.name = v), { required: true })),
                field(`${p}.runtime`, t('wiz.runtime'), select(s.runtime, RUNTIMES.map((r) => [r, r]), (v) => (s.runtime = v))),
                field(`${p}.functionConfig`, t('wiz.functionConfig'), select(s.functionConfig, [['', t('wiz.choose')], ...configs.map((n) => [n, n])], (v) => (s.functionConfig = v)), {
                    help: configs.length ? t('wiz.functionConfig.help') : t('wiz.noObjects'),
                }),
                field(`${p}.timeout`, t('wiz.timeout'), numInput(s.timeout, (v) => (s.timeout = v), { min: '1', max: '600' })),
                field(`${p}.image`, t('wiz.fimage'), textInput(s.image, (v) => (s.image = v)))
            ),
            h(
                'fieldset',
                { class: 'rows', 'data-field': `${p}.functions` },
                h('legend', {}, t('wiz.functions')),
                s.functions.map((f, j) =>
                    h(
                        'div',
                        { class: 'row', 'data-field': `${p}.functions[${j}]` },
                        field(`${p}.functions[${j}].name`, t('wiz.function.name'), textInput(f.name, (v) => (f.name = v))),
                        field(`${p}.functions[${j}].handler`, t('wiz.handler'), textInput(f.handler, (v) => (f.handler = v), { placeholder: 'index.handler' }), { help: t('wiz.handler.help') }),
                        field(`${p}.functions[${j}].codedir`, t('wiz.codedir'), textInput(f.codedir, (v) => (f.codedir = v))),
                        smallButton(`remove-function-${i}-${j}`, t('wiz.remove'), () => {
                            s.functions.splice(j, 1);
                            rerender();
                        }, 'link', `${t('wiz.remove')} ${t('wiz.functions')} ${j + 1}`)
                    )
                ),
                smallButton(`add-function-${i}`, t('wiz.add.function'), () => {
                    s.functions.push({ name: '', handler: '', codedir: '' });
                    rerender(`f-${p}.functions[${s.functions.length - 1}].name`);
                })
            ),
            envRows(s, p, i, ''),
            mountRows(s, p, i, ''),
            limitsBox(s, p)
        );
    }

    // ---- step 3: volumes
    function stepVolumes() {
        return h(
            'fieldset',
            { 'data-field': 'volumes', class: 'rows' },
            h('legend', {}, t('wiz.volumes')),
            h('p', { class: 'help' }, t('wiz.volumes.help')),
            draft.volumes.map((v, i) => {
                const p = `volumes[${i}]`;
                let source = null;
                if (v.kind === 'hostPath') source = field(`${p}.hostPath.path`, t('wiz.path'), textInput(v.path, (x) => (v.path = x), { placeholder: '/var/lib/app' }));
                else if (REF_KINDS.includes(v.kind)) {
                    const names = objects[v.kind] || [];
                    source = field(`${p}.${v.kind}.name`, t('wiz.object'), select(v.ref, [['', t('wiz.choose')], ...names.map((n) => [n, n])], (x) => (v.ref = x)), {
                        help: names.length ? null : t('wiz.noObjects'),
                    });
                }
                return h(
                    'div',
                    { class: 'row', 'data-field': p },
                    field(`${p}.name`, t('wiz.name'), textInput(v.name, (x) => (v.name = x))),
                    field(
                        `${p}.kind`,
                        t('wiz.kind'),
                        select(v.kind, VOLUME_KINDS.map((k) => [k, t(`wiz.kind.${k}`)]), (x) => {
                            v.kind = x;
                            v.ref = '';
                            rerender(`f-${p}.kind`);
                        })
                    ),
                    source,
                    smallButton(`remove-volume-${i}`, t('wiz.remove'), () => {
                        draft.volumes.splice(i, 1);
                        rerender();
                    }, 'link', `${t('wiz.remove')}: ${t('wiz.volume', { n: i + 1 })}`)
                );
            }),
            smallButton('add-volume', t('wiz.add.volume'), () => {
                draft.volumes.push({ name: '', kind: 'config', path: '', ref: '' });
                rerender(`f-volumes[${draft.volumes.length - 1}].name`);
            })
        );
    }

    // ---- step 4: registries
    function stepRegistries() {
        const names = [...new Set([...(objects.registry || []), ...draft.registries])];
        return h(
            'fieldset',
            { 'data-field': 'registries' },
            h('legend', {}, t('wiz.registries')),
            h('p', { class: 'help' }, t('wiz.registries.help')),
            names.length
                ? names.map((n) => {
                      const id = idOf(`registries-${n}`);
                      return h(
                          'div',
                          { class: 'field inline', 'data-field': `registries[${draft.registries.indexOf(n)}]` },
                          h('input', {
                              type: 'checkbox',
                              id,
                              'data-testid': `f-registries-${n}`,
                              checked: draft.registries.includes(n),
                              onchange: (e) => {
                                  draft.registries = draft.registries.filter((x) => x !== n);
                                  if (e.target.checked) draft.registries.push(n);
                              },
                          }),
                          h('label', { for: id }, n)
                      );
                  })
                : h('p', { class: 'muted' }, t('wiz.noRegistries'))
        );
    }

    // ---- step 5: advanced
    function stepAdvanced() {
        const fn = draft.type === 'function';
        const wls = fn ? ['deployment', 'daemonset'] : ['deployment', 'daemonset', 'job'];
        if (!wls.includes(draft.workload)) draft.workload = 'deployment';
        const job = draft.workload === 'job';
        const grid = h(
            'div',
            { class: 'form-grid' },
            field(
                'workload',
                t('wiz.workload'),
                select(draft.workload, wls.map((w) => [w, t(`wiz.workload.${w}`)]), (v) => {
                    draft.workload = v;
                    rerender('f-workload');
                }),
                { help: fn ? t('wiz.workload.fn') : t('wiz.workload.help') }
            )
        );
        if (!fn && draft.workload !== 'daemonset')
            grid.append(field('replicas', t('wiz.replicas'), numInput(draft.replicas, (v) => (draft.replicas = v), { min: '1', max: '64' }), { help: t('wiz.replicas.help') }));
        if (fn) grid.append(h('p', { class: 'help' }, t('wiz.replicas.fn')));
        if (job) {
            if (draft.restartPolicy !== 'OnFailure') draft.restartPolicy = 'Never';
            grid.append(
                field('restartPolicy', t('wiz.restartPolicy'), select(draft.restartPolicy, [['Never', 'Never'], ['OnFailure', 'OnFailure']], (v) => (draft.restartPolicy = v)), { help: t('wiz.restartPolicy.help') }),
                field('backoffLimit', t('wiz.backoffLimit'), numInput(draft.backoffLimit, (v) => (draft.backoffLimit = v), { min: '0', max: '100', placeholder: '6' }), { help: t('wiz.backoffLimit.help') })
            );
        } else {
            const rp = h('input', { type: 'text', value: 'Always', readonly: true });
            grid.append(field('restartPolicy', t('wiz.restartPolicy'), rp, { help: t('wiz.restartPolicy.help') }));
        }
        return h(
            'div',
            {},
            grid,
            h(
                'div',
                { class: 'form-grid' },
                field('hostNetwork', t('wiz.hostNetwork'), checkbox(draft.hostNetwork, (v) => (draft.hostNetwork = v)), { help: t('wiz.hostNetwork.help') }),
                field('monitorQps', t('wiz.monitorQps'), checkbox(draft.monitorQps, (v) => (draft.monitorQps = v)), { help: t('wiz.monitorQps.help') })
            )
        );
    }

    // ---- step 6: targets
    let previewBox = null;
    function stepTargets() {
        const exprs = h(
            'fieldset',
            { class: 'rows', 'data-field': 'selector.matchExpressions' },
            h('legend', {}, t('wiz.matchExpressions')),
            draft.matchExpressions.map((e, i) => {
                const p = `selector.matchExpressions[${i}]`;
                const hasValues = e.operator === 'In' || e.operator === 'NotIn';
                return h(
                    'div',
                    { class: 'row', 'data-field': p },
                    field(`${p}.key`, t('wiz.key'), textInput(e.key, (v) => ((e.key = v), schedulePreview()))),
                    field(
                        `${p}.operator`,
                        t('wiz.operator'),
                        select(e.operator, OPERATORS.map((o) => [o, o]), (v) => {
                            e.operator = v;
                            rerender(`f-${p}.operator`);
                            schedulePreview();
                        })
                    ),
                    hasValues ? field(`${p}.values`, t('wiz.values'), textInput(e.values, (v) => ((e.values = v), schedulePreview()), { placeholder: 'a, b' }), { help: t('wiz.values.help') }) : null,
                    smallButton(`remove-match-expression-${i}`, t('wiz.remove'), () => {
                        draft.matchExpressions.splice(i, 1);
                        rerender();
                        schedulePreview();
                    }, 'link', `${t('wiz.remove')}: ${t('wiz.matchExpressions')} ${i + 1}`)
                );
            }),
            smallButton('add-match-expression', t('wiz.add.matchExpression'), () => {
                draft.matchExpressions.push({ key: '', operator: 'In', values: '' });
                rerender(`f-selector.matchExpressions[${draft.matchExpressions.length - 1}].key`);
            })
        );
        const labels = kvRows('selector.matchLabels', t('wiz.matchLabels'), null, draft.matchLabels, 'match-label', t('wiz.add.matchLabel'));
        // typing in a matchLabels row refreshes the preview too
        labels.addEventListener('input', schedulePreview);
        previewBox = h('div', { class: 'target-preview', 'aria-live': 'polite' });
        const sel = h(
            'div',
            { 'data-field': 'selector', class: 'selector' },
            h('p', { class: 'help' }, t('wiz.selector.help')),
            labels,
            exprs,
            h('div', { class: 'preview-error', 'data-testid': 'target-error-slot' })
        );
        schedulePreview(0);
        return h('div', {}, sel, h('h3', {}, t('wiz.preview')), previewBox);
    }

    function schedulePreview(delay) {
        clearTimeout(previewTimer);
        previewTimer = setTimeout(preview, delay === undefined ? 300 : delay);
    }

    async function preview() {
        if (!alive || step !== 'targets' || !previewBox) return;
        const box = previewBox;
        const errSlot = stepRoot.querySelector('.preview-error');
        const mine = ++previewSeq;
        const sel = selectorOf(draft);
        // an expression being typed (no key yet, In/NotIn without values) would only be refused
        const partial = ((sel && sel.matchExpressions) || []).some((e) => !e.key || (e.values && !e.values.length));
        if (partial) {
            ++previewSeq;
            box.replaceChildren(h('p', { class: 'muted', 'data-testid': 'target-count' }, t('wiz.preview.incomplete')));
            if (errSlot) errSlot.replaceChildren();
            return;
        }
        const q = sel ? `selector=${encodeURIComponent(JSON.stringify(sel))}&` : '';
        box.setAttribute('aria-busy', 'true');
        try {
            const r = await api('GET', `/nodes?${q}pageSize=50`);
            if (mine !== previewSeq || !alive) return;
            const items = r.items || [];
            const total = r.total === undefined ? items.length : r.total;
            errSlot && errSlot.replaceChildren();
            box.replaceChildren(
                h('p', { 'data-testid': 'target-count', 'data-count': String(total) }, t('wiz.preview.count', { n: total }), total > items.length ? ` (${t('wiz.preview.more', { n: items.length })})` : null),
                h(
                    'ul',
                    { class: 'chips', 'data-testid': 'target-preview' },
                    items.map((n) => h('li', { class: 'chip', 'data-node': n.name }, n.name))
                )
            );
        } catch (e) {
            if (mine !== previewSeq || !alive) return;
            box.replaceChildren(h('ul', { class: 'chips', 'data-testid': 'target-preview' }));
            if (errSlot) errSlot.replaceChildren(h('div', { class: 'field-error', role: 'alert', 'data-testid': 'target-error' }, e.message));
        } finally {
            box.removeAttribute('aria-busy');
        }
    }

    // ---- step 7: deploy
    function stepDeploy() {
        const utcNote = h('div', { class: 'help', id: 'wiz-deploy-utc', 'data-testid': 'deploy-utc' });
        const paintUtc = () => utcNote.replaceChildren(draft.deployMode === 'at' && draft.deployAt ? t('wiz.deploy.utc', { t: toUtc(draft.deployAt) }) : '');
        const at = h('input', {
            type: 'datetime-local',
            id: 'wiz-deploy-at',
            'data-testid': 'f-deploy.at',
            value: draft.deployAt,
            disabled: draft.deployMode !== 'at',
            'aria-describedby': 'wiz-deploy-utc',
            oninput: (e) => {
                draft.deployAt = e.target.value;
                paintUtc();
            },
        });
        paintUtc();
        const radio = (mode) =>
            h(
                'div',
                { class: 'field inline' },
                h('input', {
                    type: 'radio',
                    name: 'wiz-deploy-mode',
                    id: `wiz-deploy-mode-${mode}`,
                    value: mode,
                    checked: draft.deployMode === mode,
                    'data-testid': `f-deploy.mode-${mode}`,
                    onchange: () => {
                        draft.deployMode = mode;
                        at.disabled = mode !== 'at';
                        paintUtc();
                        if (mode === 'at') at.focus();
                    },
                }),
                h('label', { for: `wiz-deploy-mode-${mode}` }, t(`wiz.deploy.${mode}`))
            );
        const body = toBody(draft, edit);
        const d = draft;
        const svcNames = (d.type === 'function' ? d.fservices : d.services).map((s) => (d.type === 'function' ? `${s.name} (${s.runtime})` : `${s.name} (${s.image})`));
        const row = (k, v) => [h('dt', {}, t(k)), h('dd', {}, v)];
        return h(
            'div',
            {},
            h(
                'fieldset',
                { 'data-field': 'deploy' },
                h('legend', {}, t('wiz.deploy')),
                radio('now'),
                radio('at'),
                h('div', { class: 'field', 'data-field': 'deploy.at' }, h('label', { for: 'wiz-deploy-at' }, t('wiz.deploy.time')), at, utcNote)
            ),
            h('h3', {}, t('wiz.summary')),
            h(
                'dl',
                { class: 'props', 'data-testid': 'wizard-summary' },
                row('wiz.sum.name', d.name || '-'),
                edit ? row('wiz.sum.version', String(d.version)) : null,
                row('wiz.sum.type', t(`wiz.type.${d.type}`)),
                row('wiz.sum.services', svcNames.join(', ') || '-'),
                d.type === 'container' && d.initServices.length ? row('wiz.sum.initServices', d.initServices.map((s) => s.name).join(' → ')) : null,
                row('wiz.sum.volumes', d.volumes.map((v) => `${v.name} (${t(`wiz.kind.${v.kind}`)}${v.ref ? ': ' + v.ref : v.path ? ': ' + v.path : ''})`).join(', ') || t('wiz.none')),
                row('wiz.sum.registries', d.registries.join(', ') || t('wiz.none')),
                row('wiz.sum.workload', t(`wiz.workload.${body.workload}`) + (body.replicas ? ` × ${body.replicas}` : '')),
                row('wiz.sum.selector', selectorText(body.selector)),
                row('wiz.sum.deploy', body.deploy ? body.deploy.at : t('wiz.deploy.now'))
            ),
            h('details', {}, h('summary', {}, t('wiz.body')), h('pre', { 'data-testid': 'wizard-body' }, JSON.stringify(body, null, 2)))
        );
    }

    // ---- save
    function clientCheck() {
        const req = (path, v) => (String(v).trim() === '' ? path : null);
        let bad = req('name', draft.name);
        if (!bad && draft.type === 'container') {
            draft.initServices.forEach((s, i) => (bad = bad || req(`initServices[${i}].name`, s.name) || req(`initServices[${i}].image`, s.image)));
            draft.services.forEach((s, i) => (bad = bad || req(`services[${i}].name`, s.name) || req(`services[${i}].image`, s.image)));
        }
        return bad;
    }

    function showError(field, message) {
        const s = stepOf(field);
        // the server's message starts with the field's path, which the placement already says
        if (field && message.startsWith(`${field}: `)) message = message.slice(field.length + 2);
        show(s, { errorStep: s, keepFocus: true });
        const el = field ? showFieldError(stepRoot, field, message) : null;
        if (!el) {
            stepAlert(field ? `${field}: ${message}` : message);
            stepRoot.querySelector('h2').focus();
        }
    }

    async function save() {
        if (saving) return;
        const bad = clientCheck();
        if (bad) {
            showError(bad, t('wiz.required'));
            return;
        }
        const body = toBody(draft, edit);
        saving = true;
        saveBtn.disabled = true;
        saveBtn.textContent = t('wiz.saving');
        try {
            const r = edit ? await api('PUT', `/apps/${encodeURIComponent(draft.name)}`, body) : await api('POST', '/apps', body);
            toast(t('wiz.saved', { n: r && r.version !== undefined ? r.version : '?' }), 'ok');
            go(`#/apps/${encodeURIComponent(body.name)}`);
        } catch (e) {
            if (!alive) return;
            errorStep = null;
            if (e instanceof ApiError && e.status === 409 && edit) {
                show(step, { keepFocus: true });
                stepAlert([
                    h('p', {}, t('wiz.conflict'), ' ', h('span', { class: 'muted' }, e.message)),
                    h('button', { type: 'button', class: 'secondary', 'data-testid': 'wizard-reload', onclick: () => go(`#/apps/${encodeURIComponent(draft.name)}/edit?step=${step}`) }, t('wiz.reload')),
                ]);
                stepRoot.querySelector('[data-testid="wizard-reload"]').focus();
            } else if (e instanceof ApiError && e.status === 400 && e.field) {
                showError(e.field, e.message);
            } else {
                show(step, { keepFocus: true });
                stepAlert(e.message);
                stepRoot.querySelector('h2').focus();
            }
        } finally {
            saving = false;
            saveBtn.disabled = false;
            saveBtn.textContent = t('wiz.save');
        }
    }

    show(step, { keepFocus: true });
    clearFieldErrors(stepRoot);
    return () => {
        alive = false;
        clearTimeout(previewTimer);
    };
}

route('#/new', wizardPage, { nav: 'apps' });
route('#/apps/:name/edit', wizardPage, { nav: 'apps' });
