#!/usr/bin/env node
// Ferry's Node.js function runtime ("nodejs10" in the product's spelling): loads a function
// service's handlers and serves them over HTTP/1.1 on a unix socket, for the node's gateway.
// Core modules only, CommonJS; Node 18 and 20.
//
// The contract (environment, handler spelling, HTTP answers, SIGTERM) is in runtimes/README.md.
//
//   FERRY_SERVICE=svc FERRY_FUNCTIONS='[{"name": "process", "handler": "index.handler"}]' \
//       FERRY_CODE_DIR=/ferry/code FERRY_SOCKET=/ferry/run/runtime.sock node ferry_runtime.js
'use strict';

const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');
const crypto = require('crypto');
const { AsyncLocalStorage } = require('async_hooks');

const RUNTIME = 'nodejs10';
const PREFIX = 'ferry-runtime:';
const DRAIN_MS = 1000 * Number(process.env.FERRY_DRAIN_S || 25); // SIGTERM: wait for calls
const FRESH_GRACE_MS = 2000; // SIGTERM: how long a fresh connection may take to send its request
const MAX_BODY = 32 << 20; // bytes of one event
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HANDLER_RE = /^[^.]+(\.[^.]+)*\.[A-Za-z_$][\w$]*$/;

function log(msg) {
  process.stderr.write(`${PREFIX} ${msg}\n`);
}

// 'TypeError: message' for an Error; other thrown or passed values as text.
function errorText(err) {
  if (err instanceof Error) return err.message ? `${err.name}: ${err.message}` : err.name;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err);
  } catch (e) {
    return String(err);
  }
}

// The stack of err without the runtime's own frames (those of this file and below them).
function errorStack(err) {
  if (!(err instanceof Error) || typeof err.stack !== 'string') return '';
  const lines = err.stack.split('\n');
  const ours = lines.findIndex((l) => /^\s+at /.test(l) && l.includes(__filename));
  return (ours > 0 ? lines.slice(0, ours) : lines).join('\n');
}

// ---- loading -----------------------------------------------------------------------------------

class ConfigError extends Error {}

// FERRY_FUNCTIONS -> [{name, handler, codedir}]; throws ConfigError (one problem a line).
function parseFunctions(text) {
  if (!text) {
    throw new ConfigError(
      'FERRY_FUNCTIONS is not set (a JSON array of {name, handler, codedir})');
  }
  let fns;
  try {
    fns = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`FERRY_FUNCTIONS is not JSON: ${e.message}`);
  }
  if (!Array.isArray(fns) || fns.length === 0) {
    throw new ConfigError('FERRY_FUNCTIONS must be a non-empty JSON array');
  }
  const out = [];
  const seen = new Set();
  const problems = [];
  fns.forEach((f, i) => {
    if (f === null || typeof f !== 'object' || Array.isArray(f)) {
      problems.push(`FERRY_FUNCTIONS[${i}] is not an object`);
      return;
    }
    const { name, handler } = f;
    const codedir = f.codedir == null ? '' : f.codedir;
    if (typeof name !== 'string' || !NAME_RE.test(name)) {
      problems.push(`FERRY_FUNCTIONS[${i}]: bad function name ${JSON.stringify(name)}`);
      return;
    }
    if (seen.has(name)) {
      problems.push(`function '${name}': the name is used twice`);
      return;
    }
    seen.add(name);
    if (typeof handler !== 'string' || !HANDLER_RE.test(handler)) {
      problems.push(`function '${name}': bad handler ${JSON.stringify(handler)} ` +
        '(expected script.function, e.g. index.handler)');
      return;
    }
    if (typeof codedir !== 'string' || path.isAbsolute(codedir) ||
        codedir.replace(/\\/g, '/').split('/').includes('..')) {
      problems.push(`function '${name}': bad codedir ${JSON.stringify(codedir)} ` +
        "(a relative folder without '..')");
      return;
    }
    out.push({ name, handler, codedir });
  });
  if (problems.length) throw new ConfigError(problems.join('\n'));
  return out;
}

// Where a SyntaxError of require() points: its stack starts with "FILE:LINE".
function syntaxWhere(err, file, folder) {
  const m = /^(.*):(\d+)\r?\n/.exec(errorStack(err));
  if (!m) return '';
  return m[1] === file ? ` (line ${m[2]})` : ` (${path.relative(folder, m[1])}, line ${m[2]})`;
}

// Requires every function's script and checks its function -> {functions: Map, problems: []}.
function loadFunctions(codeDir, specs) {
  const functions = new Map();
  const problems = [];
  for (const spec of specs) {
    const dot = spec.handler.lastIndexOf('.');
    const script = spec.handler.slice(0, dot);
    const func = spec.handler.slice(dot + 1);
    const rel = script.endsWith('.js') ? script : `${script}.js`;
    const folder = path.resolve(codeDir, spec.codedir);
    const file = path.join(folder, rel);
    const what = `function '${spec.name}': ${path.join(spec.codedir, rel)}`;
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
      problems.push(`${what}: no such file in the code folder (${folder})`);
      continue;
    }
    let mod;
    try {
      mod = require(file);
    } catch (err) {
      if (err instanceof SyntaxError) {
        problems.push(`${what}: SyntaxError: ${err.message}${syntaxWhere(err, file, folder)}`);
      } else {
        problems.push(`${what}: ${errorText(err).split('\n')[0]}\n${errorStack(err)}`.trimEnd());
      }
      continue;
    }
    const fn = mod == null ? undefined : mod[func];
    if (fn === undefined) {
      problems.push(`${what}: no function '${func}' exported (handler ${spec.handler})`);
    } else if (typeof fn !== 'function') {
      problems.push(`${what}: '${func}' is not a function (${fn === null ? 'null' : typeof fn})`);
    } else {
      functions.set(spec.name, { name: spec.name, handler: spec.handler, fn });
    }
  }
  return { functions, problems };
}

// ---- calling -----------------------------------------------------------------------------------

function parseEvent(body) {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    return body;
  }
}

// A handler's result -> [content type, Buffer]; throws when it cannot be sent.
function encodeResult(result) {
  if (Buffer.isBuffer(result)) return ['application/octet-stream', result];
  if (result instanceof Uint8Array) return ['application/octet-stream', Buffer.from(result)];
  if (typeof result === 'string') return ['text/plain; charset=utf-8', Buffer.from(result)];
  const text = JSON.stringify(result === undefined ? null : result);
  if (text === undefined) throw new TypeError(`the result is a ${typeof result}: not JSON`);
  return ['application/json', Buffer.from(text)];
}

const invocations = new AsyncLocalStorage();

// Calls fn(event, context, callback); settles once with the first of: the callback, a
// returned promise, a returned value (not undefined), or undefined from a handler that takes
// no callback. A throw, a rejection, callback(err) or an uncaught error of its own -> reject.
function call(fn, event, context) {
  return new Promise((resolve, reject) => {
    let done = false;
    const settle = (err, result) => { // false when the call was settled already
      if (done) return false;
      done = true;
      if (err !== undefined && err !== null) reject(err);
      else resolve(result);
      return true;
    };
    invocations.run({ settle }, () => {
      let ret;
      try {
        ret = fn(event, context, (err, result) => settle(err, result));
      } catch (err) {
        settle(err === undefined || err === null ? new Error(String(err)) : err);
        return;
      }
      if (ret !== null && ret !== undefined && typeof ret.then === 'function') {
        ret.then((result) => settle(null, result),
          (err) => settle(err === undefined || err === null ? new Error('rejected') : err));
      } else if (ret !== undefined || fn.length < 3) {
        settle(null, ret);
      }
    });
  });
}

// An error a handler raised outside its call (a timer, an unhandled rejection): it fails that
// call when it can be told which; the runtime keeps serving the others either way.
process.on('uncaughtException', (err) => {
  const inv = invocations.getStore();
  if (!inv || !inv.settle(err)) { // else logged with the call's failure
    log(`uncaught error ${inv ? 'after its call ended' : 'outside any call'}: ` +
      `${errorText(err)}\n${errorStack(err)}`);
  }
});

// ---- serving -----------------------------------------------------------------------------------

function main() {
  const service = process.env.FERRY_SERVICE || '';
  const codeDir = process.env.FERRY_CODE_DIR || '/ferry/code';
  const sockPath = process.env.FERRY_SOCKET || '/ferry/run/runtime.sock';
  let specs;
  try {
    specs = parseFunctions(process.env.FERRY_FUNCTIONS || '');
    if (!fs.existsSync(codeDir) || !fs.statSync(codeDir).isDirectory()) {
      throw new ConfigError(`the code folder ${codeDir} does not exist`);
    }
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    e.message.split('\n').forEach((l) => log(l));
    process.exit(1);
  }
  const { functions, problems } = loadFunctions(codeDir, specs);
  if (problems.length) {
    problems.forEach((p) => log(p));
    log(`service '${service}': ${problems.length} function(s) failed to load; exiting`);
    process.exit(1);
  }

  let calls = 0;
  let draining = false;
  const fresh = new Set(); // connections accepted that have not sent a request yet
  const sockets = new Set();
  let onChange = () => {};

  function reply(req, res, code, ctype, body, invokeId) {
    const headers = { 'Content-Type': ctype, 'Content-Length': body.length };
    if (invokeId) headers['X-Ferry-Invoke-Id'] = invokeId;
    if (draining) headers.Connection = 'close';
    res.writeHead(code, headers);
    res.end(body);
  }
  const replyJson = (req, res, code, obj, invokeId) =>
    reply(req, res, code, 'application/json', Buffer.from(JSON.stringify(obj)), invokeId);

  async function invoke(req, res, name, body) {
    const invokeId = req.headers['x-ferry-invoke-id'] || crypto.randomUUID();
    const f = functions.get(name);
    if (!f) {
      replyJson(req, res, 404, { error: `no function '${name}' in service '${service}'` },
        invokeId);
      return;
    }
    const context = {
      functionName: f.name, serviceName: service, invokeId, functionInvokeID: invokeId,
      requestId: invokeId, runtime: RUNTIME, handler: f.handler,
    };
    let ctype;
    let out;
    try {
      [ctype, out] = encodeResult(await call(f.fn, parseEvent(body), context));
    } catch (err) {
      const stack = errorStack(err);
      log(`function '${name}' invoke ${invokeId} failed: ${errorText(err)}` +
        (stack ? `\n${stack}` : ''));
      replyJson(req, res, 500, { error: errorText(err), function: name, stack }, invokeId);
      return;
    }
    reply(req, res, 200, ctype, out, invokeId);
  }

  const server = http.createServer((req, res) => {
    calls += 1;
    fresh.delete(req.socket);
    res.on('close', () => {
      calls -= 1;
      onChange();
    });
    let target = req.url.split('?')[0];
    try {
      target = decodeURIComponent(target);
    } catch (e) {
      // not percent-encoded after all: the name as it came
    }
    if (req.method === 'GET' && target === '/healthz') {
      replyJson(req, res, 200, {
        ok: true, runtime: RUNTIME, service, functions: [...functions.keys()],
      });
      req.resume();
      return;
    }
    if (req.method !== 'POST') {
      replyJson(req, res, 405, { error: `${req.method} ${target}: call functions with POST` });
      req.resume();
      return;
    }
    const chunks = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) tooBig = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      if (tooBig) {
        replyJson(req, res, 413, { error: `event larger than ${MAX_BODY} bytes` });
        return;
      }
      invoke(req, res, target.slice(1), Buffer.concat(chunks)).catch((err) => {
        log(`answering a call failed: ${errorText(err)}`);
        res.destroy();
      });
    });
  });
  server.on('connection', (sock) => {
    fresh.add(sock);
    sockets.add(sock);
    sock.on('close', () => {
      fresh.delete(sock);
      sockets.delete(sock);
      onChange();
    });
  });
  server.on('clientError', (err, sock) => {
    if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });

  // A stale socket file from an earlier run is removed; the socket is 0666 for the gateway.
  try {
    fs.mkdirSync(path.dirname(sockPath), { recursive: true });
    const old = fs.lstatSync(sockPath, { throwIfNoEntry: false });
    if (old && !old.isDirectory()) fs.unlinkSync(sockPath);
  } catch (e) {
    log(`cannot listen on ${sockPath}: ${e.message}`);
    process.exit(1);
  }
  let ident = null;
  server.on('error', (e) => {
    log(`cannot listen on ${sockPath}: ${e.message}`);
    process.exit(1);
  });
  server.listen(sockPath, () => {
    fs.chmodSync(sockPath, 0o666);
    const st = fs.statSync(sockPath);
    ident = `${st.dev}:${st.ino}`;
    log(`${RUNTIME} service '${service}' serves ${[...functions.keys()].join(', ')} on ` +
      `${sockPath} (Node.js ${process.version})`);
  });

  // SIGTERM: stop accepting, let the calls in flight finish (bounded), then leave.
  function stop() {
    if (draining) return;
    draining = true;
    const n = calls;
    const start = Date.now();
    // net.Server's close: http.Server's would also drop idle keep-alive connections, and on
    // Node 19+ fresh ones, whose request may be on its way.
    net.Server.prototype.close.call(server);
    try {
      const st = fs.statSync(sockPath);
      if (`${st.dev}:${st.ino}` === ident) fs.unlinkSync(sockPath); // not a successor's
    } catch (e) {
      // gone already
    }
    const check = () => {
      const elapsed = Date.now() - start;
      if (calls === 0 && (fresh.size === 0 || elapsed > FRESH_GRACE_MS)) {
        log(`stopped (${n} call(s) were in flight, all answered)`);
      } else if (elapsed >= DRAIN_MS) {
        log(`stopped after ${DRAIN_MS / 1000}s with ${calls} call(s) still in flight`);
      } else {
        return;
      }
      onChange = () => {};
      for (const s of sockets) s.destroy();
      process.exit(0);
    };
    onChange = check;
    setInterval(check, 100).unref();
    setTimeout(check, DRAIN_MS); // keeps the loop alive until the deadline
    check();
  }
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
