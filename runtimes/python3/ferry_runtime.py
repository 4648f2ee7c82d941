#!/usr/bin/env python3
"""Ferry's python3 function runtime: loads a function service's handlers and serves them over
HTTP/1.1 on a unix socket, for the node's gateway. Standard library only (Python 3.11).

The contract (environment, handler spelling, HTTP answers, SIGTERM) is in runtimes/README.md.

    FERRY_SERVICE=svc FERRY_FUNCTIONS='[{"name": "process", "handler": "index.handler"}]' \
        FERRY_CODE_DIR=/ferry/code FERRY_SOCKET=/ferry/run/runtime.sock python3 ferry_runtime.py
"""
import http.server
import importlib.util
import json
import os
import re
import signal
import socketserver
import stat
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

RUNTIME = "python3"
PREFIX = "ferry-runtime:"
DRAIN_S = float(os.environ.get("FERRY_DRAIN_S", "25"))  # SIGTERM: wait this long for calls
MAX_BODY = 32 << 20  # bytes of one event
IDLE_S = 300  # a connection with no request for this long is closed
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class ConfigError(Exception):
    pass


def log(msg):
    print(f"{PREFIX} {msg}", file=sys.stderr, flush=True)


def error_text(e):
    """'ValueError: message', or the type name alone when the message is empty."""
    msg = str(e)
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def user_traceback(e):
    """The traceback of e without the runtime's own frames (those of this file)."""
    tb = e.__traceback__
    here = os.path.abspath(__file__)
    while tb is not None and (tb.tb_frame.f_code.co_filename.startswith("<frozen ") or
                              os.path.abspath(tb.tb_frame.f_code.co_filename) == here):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


# ---- loading ------------------------------------------------------------------------------------


def parse_functions(text):
    """FERRY_FUNCTIONS -> [{"name", "handler", "codedir"}]; raises ConfigError."""
    if not text:
        raise ConfigError("FERRY_FUNCTIONS is not set (a JSON array of {name, handler, codedir})")
    try:
        fns = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"FERRY_FUNCTIONS is not JSON: {e}") from None
    if not isinstance(fns, list) or not fns:
        raise ConfigError("FERRY_FUNCTIONS must be a non-empty JSON array")
    out, seen, problems = [], set(), []
    for i, f in enumerate(fns):
        if not isinstance(f, dict):
            problems.append(f"FERRY_FUNCTIONS[{i}] is not an object")
            continue
        name, handler, codedir = f.get("name"), f.get("handler"), f.get("codedir", "")
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append(f"FERRY_FUNCTIONS[{i}]: bad function name {name!r}")
            continue
        if name in seen:
            problems.append(f"function '{name}': the name is used twice")
            continue
        seen.add(name)
        if codedir is None:
            codedir = ""
        if not isinstance(handler, str) or not re.match(r"^[^.]+(\.[^.]+)*\.[A-Za-z_]\w*$",
                                                        handler or ""):
            problems.append(f"function '{name}': bad handler {handler!r} "
                            "(expected script.function, e.g. index.handler)")
            continue
        if not isinstance(codedir, str) or os.path.isabs(codedir) or \
                ".." in codedir.replace("\\", "/").split("/"):
            problems.append(f"function '{name}': bad codedir {codedir!r} "
                            "(a relative folder without '..')")
            continue
        out.append({"name": name, "handler": handler, "codedir": codedir})
    if problems:
        raise ConfigError("\n".join(problems))
    return out


class Function:
    def __init__(self, name, handler, codedir, fn):
        self.name, self.handler, self.codedir, self.fn = name, handler, codedir, fn


def load_functions(code_dir, specs):
    """Imports every function's script and checks its function; returns ({name: Function},
    [problem lines]). A script shared by several functions is imported once."""
    modules = {}  # absolute path -> module, or None when its import failed
    functions, problems = {}, []
    sys.dont_write_bytecode = True  # the code folder is read-only
    for spec in specs:
        name, handler = spec["name"], spec["handler"]
        script, func = handler.rsplit(".", 1)
        rel = script.replace(".", "/") + ".py"
        folder = os.path.normpath(os.path.join(code_dir, spec["codedir"]))
        path = os.path.join(folder, rel)
        what = f"function '{name}': {os.path.join(spec['codedir'], rel)}"
        if not os.path.isfile(path):
            problems.append(f"{what}: no such file in the code folder ({folder})")
            continue
        if path not in modules:
            modules[path] = import_script(path, folder, script, what, problems)
        module = modules[path]
        if module is None:
            continue
        fn = getattr(module, func, None)
        if fn is None:
            problems.append(f"{what}: no function '{func}' (handler {handler})")
        elif not callable(fn):
            problems.append(f"{what}: '{func}' is not a function ({type(fn).__name__})")
        else:
            functions[name] = Function(name, handler, spec["codedir"], fn)
    return functions, problems


def import_script(path, folder, script, what, problems):
    # Its folder first on sys.path: the script may import its neighbours (and vendored packages).
    if folder not in sys.path:
        sys.path.insert(0, folder)
    modname = script if script not in sys.modules else f"ferry_fn_{len(sys.modules)}_{script}"
    try:
        spec = importlib.util.spec_from_file_location(modname, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module
        spec.loader.exec_module(module)
        return module
    except SyntaxError as e:
        sys.modules.pop(modname, None)
        where = f"line {e.lineno}"
        if e.filename and os.path.abspath(e.filename) != path:
            where = f"{os.path.relpath(e.filename, folder)}, {where}"
        problems.append(f"{what}: {type(e).__name__}: {e.msg} ({where})")
    except BaseException as e:  # noqa: B036 (a module may even call sys.exit)
        sys.modules.pop(modname, None)
        problems.append(f"{what}: {error_text(e)}\n{user_traceback(e).rstrip()}")
    return None


# ---- serving ------------------------------------------------------------------------------------


class Runtime:
    """The service's functions, and what is in flight: calls being handled, and connections
    accepted that have not sent their first request yet (a call on its way)."""

    FRESH_GRACE_S = 2.0  # SIGTERM: how long a fresh connection may take to send its request

    def __init__(self, service, functions):
        self.service, self.functions = service, functions
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.calls = 0
        self.fresh = 0
        self.draining = False

    def count(self, fresh=0, calls=0):
        with self.lock:
            self.fresh += fresh
            self.calls += calls
            self.changed.notify_all()

    def drain(self, timeout):
        """Waits until no call is in flight; False at the deadline."""
        start = time.monotonic()
        with self.lock:
            self.draining = True
            while True:
                now = time.monotonic()
                if self.calls == 0 and (self.fresh == 0 or now - start > self.FRESH_GRACE_S):
                    return True
                if now - start >= timeout:
                    return False
                self.changed.wait(min(0.1, timeout - (now - start)))


def parse_event(body):
    try:
        return json.loads(body)
    except ValueError:  # UnicodeDecodeError included
        return body


def encode_result(result):
    """-> (content type, bytes) of a handler's result; raises TypeError/ValueError."""
    if isinstance(result, str):
        return "text/plain; charset=utf-8", result.encode("utf-8", "surrogatepass")
    if isinstance(result, (bytes, bytearray, memoryview)):
        return "application/octet-stream", bytes(result)
    try:
        return "application/json", json.dumps(result, allow_nan=False).encode()
    except TypeError:
        raise TypeError(f"the result is a {type(result).__name__}: return a dict, list, str, "
                        "bytes, number, bool or None") from None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ferry-runtime-python3"
    sys_version = ""

    def version_string(self):
        return self.server_version
    timeout = IDLE_S

    def log_message(self, fmt, *args):  # no access log; errors are logged where they happen
        pass

    def address_string(self):  # a unix socket peer has no address
        return "unix"

    def reply(self, code, ctype, body, invoke_id=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if invoke_id:
            self.send_header("X-Ferry-Invoke-Id", invoke_id)
        if self.server.runtime.draining:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, code, obj, invoke_id=None):
        self.reply(code, "application/json", json.dumps(obj).encode(), invoke_id)

    def read_body(self):
        """The request body (Content-Length or chunked); None after answering an error."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts, size = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    n = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    self.reply_json(400, {"error": "bad chunked body"})
                    return None
                if n == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                size += n
                if size > MAX_BODY:
                    self.close_connection = True
                    self.reply_json(413, {"error": f"event larger than {MAX_BODY} bytes"})
                    return None
                parts.append(self.rfile.read(n))
                self.rfile.readline(8)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self.reply_json(400, {"error": "bad Content-Length"})
            return None
        if length > MAX_BODY:
            self.close_connection = True
            self.reply_json(413, {"error": f"event larger than {MAX_BODY} bytes"})
            return None
        return self.rfile.read(length) if length else b""

    def target(self):
        return urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)

    def do_GET(self):
        rt = self.server.runtime
        if self.target() == "/healthz":
            self.reply_json(200, {"ok": True, "runtime": RUNTIME, "service": rt.service,
                                  "functions": list(rt.functions)})
        else:
            self.reply_json(404 if self.target().lstrip("/") not in rt.functions else 405,
                            {"error": f"GET {self.target()}: call functions with POST"})

    def setup(self):
        super().setup()
        self.first = True  # counted as fresh by Server.process_request

    def handle_one_request(self):
        """BaseHTTPRequestHandler's, counting the request as a call from its first line on."""
        rt = self.server.runtime
        try:
            first, self.first = self.first, False
            try:
                line = self.rfile.readline(65537)  # on a keep-alive connection: idle
            except BaseException:
                rt.count(fresh=-1 if first else 0)
                raise
            rt.count(fresh=-1 if first else 0, calls=1 if line else 0)
            if not line:
                self.close_connection = True
                return
        except (TimeoutError, ConnectionError):
            self.close_connection = True
            return
        try:
            self.raw_requestline = line
            if len(line) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(414)
                return
            if not self.parse_request():
                return
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self.send_error(501, f"Unsupported method ({self.command!r})")
                return
            method()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True
        finally:
            rt.count(calls=-1)

    def do_POST(self):
        rt = self.server.runtime
        invoke_id = self.headers.get("X-Ferry-Invoke-Id") or str(uuid.uuid4())
        body = self.read_body()
        if body is None:
            return
        name = self.target()[1:]
        fn = rt.functions.get(name)
        if fn is None:
            self.reply_json(404, {"error": f"no function '{name}' in service '{rt.service}'"},
                            invoke_id)
            return
        context = {"functionName": fn.name, "serviceName": rt.service, "invokeId": invoke_id,
                   "functionInvokeID": invoke_id, "requestId": invoke_id, "runtime": RUNTIME,
                   "handler": fn.handler}
        try:
            ctype, out = encode_result(fn.fn(parse_event(body), context))
        except BaseException as e:  # noqa: B036 (sys.exit() in a handler fails its call only)
            if isinstance(e, KeyboardInterrupt):
                raise
            tb = user_traceback(e)
            print(f"{PREFIX} function '{name}' invoke {invoke_id} failed: {error_text(e)}\n{tb}",
                  file=sys.stderr, end="", flush=True)
            self.reply_json(500, {"error": error_text(e), "function": name, "traceback": tb},
                            invoke_id)
            return
        self.reply(200, ctype, out, invoke_id)

    def do_PUT(self):
        self.reply_json(405, {"error": "call functions with POST"})

    do_DELETE = do_PATCH = do_PUT


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True  # idle keep-alive connections do not hold the exit
    block_on_close = False
    request_queue_size = 128

    def __init__(self, path, runtime):
        self.runtime = runtime
        super().__init__(path, Handler, bind_and_activate=False)

    def process_request(self, request, client_address):
        self.runtime.count(fresh=1)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.runtime.count(fresh=-1)
            raise

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if not isinstance(e, (BrokenPipeError, ConnectionResetError, TimeoutError)):
            log(f"connection error: {error_text(e)}")


def listen(path, runtime):
    """Binds the socket (a stale file at the path is removed), mode 0666. -> (server, inode)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    server = Server(path, runtime)
    try:
        server.server_bind()
        os.chmod(path, 0o666)
        server.server_activate()
    except BaseException:
        server.server_close()
        raise
    st = os.stat(path)
    return server, (st.st_dev, st.st_ino)


def main():
    for stream in (sys.stdout, sys.stderr):  # the function's prints reach the log at once
        stream.reconfigure(line_buffering=True)
    service = os.environ.get("FERRY_SERVICE", "")
    code_dir = os.environ.get("FERRY_CODE_DIR") or "/ferry/code"
    sock = os.environ.get("FERRY_SOCKET") or "/ferry/run/runtime.sock"
    try:
        specs = parse_functions(os.environ.get("FERRY_FUNCTIONS", ""))
        if not os.path.isdir(code_dir):
            raise ConfigError(f"the code folder {code_dir} does not exist")
    except ConfigError as e:
        for line in str(e).splitlines():
            log(line)
        return 1
    functions, problems = load_functions(code_dir, specs)
    if problems:
        for p in problems:
            log(p)
        log(f"service '{service}': {len(problems)} function(s) failed to load; exiting")
        return 1

    runtime = Runtime(service, functions)
    try:
        server, ident = listen(sock, runtime)
    except OSError as e:
        log(f"cannot listen on {sock}: {e}")
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="accept", daemon=True)
    thread.start()
    log(f"{RUNTIME} service '{service}' serves {', '.join(functions)} on {sock}")
    while not stop.wait(3600):
        pass
    # Stop accepting, let the calls in flight finish (bounded), then leave.
    server.shutdown()
    server.server_close()
    try:  # the socket file, unless a successor has bound its own at the same path
        st = os.stat(sock)
        if (st.st_dev, st.st_ino) == ident:
            os.unlink(sock)
    except OSError:
        pass
    n = runtime.calls
    if runtime.drain(DRAIN_S):
        log(f"stopped ({n} call(s) were in flight, all answered)")
    else:
        log(f"stopped after {DRAIN_S:g}s with {runtime.calls} call(s) still in flight")
    # Out at once: idle keep-alive connections still have threads, and the interpreter's
    # shutdown with threads alive is better skipped (a handler may even hold a lock).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
