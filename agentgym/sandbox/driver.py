"""The in-sandbox driver: one long-lived process that runs commands on request.

Its source is sent as `python3 -c SOURCE` when a sandbox starts (Docker container main process or
bubblewrap child), so nothing needs installing in the image. Protocol on stdin/stdout: one JSON
object per line each way. Requests:

    {"op": "run", "cmd_b64": base64, "timeout": float, "head": int, "tail": int}
    {"op": "exec", "argv": [str], "env": {str: str} | null, "cwd": str, "timeout": float,
     "stdin": base64 | null, "limit": int}
    {"op": "write", "path": str, "data": base64, "mode": int | null}
    {"op": "read", "path": str, "limit": int}
    {"op": "killall"}
    {"op": "ping"}

`run` is the agent's shell: every command runs in a fresh `bash` in its own session (process
group) with stdin from /dev/null and stdout+stderr merged into one pipe; the shell's working
directory and exported variables are saved after each command and restored before the next, so
`cd` and `export` behave as in one long shell while a hung or crashed command cannot wedge the
driver. The command text reaches bash through an anonymous memory file (never a path the agent
could replace). On timeout every process the command started is killed (its process group, and
any process created while it ran, `setsid` or not) and the exit code is 124. Output is kept head
+ tail, with the number of dropped bytes, and returned base64-encoded (binary-safe).

`exec` is the machinery's own command (collecting a diff, a tree, setting up a task): a fixed
environment (never the agent's exports), full stdout up to `limit` bytes, stderr tail.

The driver is the agent's landlord, and the agent cannot evict it:
- it is PID 1 of the sandbox's PID namespace (Docker: the container's main process without an
  init; bubblewrap: `--as-pid-1`), and the kernel delivers no signal from inside the namespace to
  its init unless the init handles it, which the driver never does: `kill -9 -1` and `kill -9 1`
  leave it running; it reaps orphans, as an init must;
- it is not dumpable (`prctl(PR_SET_DUMPABLE, 0)`), so the agent's user cannot ptrace it or open
  its /proc files;
- agent commands start with `oom_score_adj` 1000, so the kernel's out-of-memory killer picks them
  before the driver;
- file requests open without blocking and refuse what is not a regular file (a FIFO planted where
  the editor writes cannot hang it);
- when a fork bomb fills the process limit (a spawn fails, or the sandbox holds >= 90% of
  `AGENTGYM_PROC_LIMIT` processes after a command), it kills every process but itself and says so
  in the reply's `notes`; `killall` does the same on request (before grading).
"""

DRIVER_SOURCE = r"""
import base64, json, os, select, signal, sys, time

ENV = dict(os.environ)
SEED = ENV.pop("AGENTGYM_SEED", "")
PROC_LIMIT = int(ENV.pop("AGENTGYM_PROC_LIMIT", "0") or 0)
NPROC = int(ENV.pop("AGENTGYM_NPROC", "0") or 0)
STATE = ENV.pop("AGENTGYM_STATE", "/tmp/.agentgym-state")
ME = os.getpid()
BASH = "/bin/bash"
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
             "HOME": "/nonexistent", "GIT_CONFIG_GLOBAL": "/dev/null",
             "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "TERM": "dumb"}
WRAPPER = (  # one line, so that bash's "line N" in an error message is the command's own line N
    '__ag_state="$AGENTGYM_STATE"; unset AGENTGYM_STATE; '
    'echo 1000 > /proc/self/oom_score_adj 2>/dev/null; '
    'if [ -f "$__ag_state/env" ]; then . "$__ag_state/env" >/dev/null 2>&1; fi; '
    'if [ -f "$__ag_state/cwd" ]; then read -r __ag_dir < "$__ag_state/cwd"; cd -- "$__ag_dir" 2>/dev/null; fi; '
    '__ag_save() { __ag_rc=$?; { pwd > "$__ag_state/cwd"; export -p > "$__ag_state/env"; } 2>/dev/null; exit $__ag_rc; }; '
    'trap __ag_save EXIT; '
    'IFS= read -r -d "" __ag_cmd <&3; exec 3<&-; '
    'eval "$__ag_cmd"'
)
CHANGED = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
           signal.SIGALRM, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU]
DEFAULTS = tuple(CHANGED + [signal.SIGPIPE, signal.SIGXFSZ])


def protect():
    try:
        import ctypes
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0: no ptrace, no /proc/<pid>/fd
    except Exception:
        pass
    for s in CHANGED:  # catchable signals: ignored (children get the defaults back, see DEFAULTS)
        try:
            signal.signal(s, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
    if NPROC:
        import resource
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (NPROC, NPROC))
        except (OSError, ValueError):
            pass


def pids():
    out = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            out.add(int(name))
    out.discard(ME)
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


WATCHED = {}  # pid of a command we wait for -> its wait status (None while it runs)


def reap():
    # as PID 1 the driver inherits every orphan: collect them all, keep the statuses we wait for
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        if pid in WATCHED:
            WATCHED[pid] = st


def wait_for(pid, seconds):
    # the wait status of `pid` within `seconds` (None if still running)
    deadline = time.monotonic() + seconds
    while True:
        reap()
        if WATCHED.get(pid) is not None or time.monotonic() >= deadline:
            return WATCHED.get(pid)
        time.sleep(0.001)


def exit_fd(pid):
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def kill_all():
    # every process in the sandbox but the driver
    n = 0
    for _ in range(100):
        victims = [p for p in pids() if p != 1]
        if ME == 1 and victims:
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
        else:
            for p in victims:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        reap()
        live = [p for p in victims if alive(p)]
        n = max(n, len(victims))
        if not live:
            break
        time.sleep(0.01)
    return n


def kill_new(before, pgid):
    # the command's process group, and every process born while it ran (setsid or not)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
    for _ in range(100):
        reap()
        new = [p for p in pids() - before if alive(p)]
        if not new:
            return
        for p in new:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


def memfile(data):
    fd = os.memfd_create("agentgym", 0)
    _write_all(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def spawn(argv, env, fds, cwd=None):
    # fds: {child fd: our fd}; a session of its own, default signal dispositions
    actions = []
    for child, ours in sorted(fds.items()):
        if ours == child:
            os.set_inheritable(ours, True)
        else:
            actions.append((os.POSIX_SPAWN_DUP2, ours, child))
    old = None
    if cwd:
        old = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
        os.chdir(cwd)
    try:
        path = BASH if argv[0] == "bash" else argv[0]
        return os.posix_spawn(path, argv, env, file_actions=actions, setsid=True, setsigdef=DEFAULTS)
    finally:
        if old is not None:
            os.fchdir(old)
            os.close(old)


def spawn_retrying(argv, env, fds, notes, cwd=None):
    try:
        return spawn(argv, env, fds, cwd)
    except BlockingIOError:  # EAGAIN: the process limit is full (a fork bomb): clear the sandbox
        n = kill_all()
        notes.append("the sandbox was at its process limit; all %d of its processes were killed" % n)
        return spawn(argv, env, fds, cwd)


def run(req):
    raw = base64.b64decode(req["cmd_b64"]) if "cmd_b64" in req else req["cmd"].encode("utf-8", "replace")
    timeout = float(req.get("timeout") or 60)
    head = int(req.get("head", 8000))
    tail = int(req.get("tail", 8000))
    notes = []
    env = dict(ENV)
    env["AGENTGYM_STATE"] = STATE
    if not os.path.isdir(STATE):  # the agent removed or replaced it: a fresh one (cwd and exports lost)
        try:
            os.unlink(STATE)
        except OSError:
            pass
        try:
            os.makedirs(STATE, exist_ok=True)
        except OSError:
            pass
    cmd_fd = memfile(raw.replace(b"\0", b"") + b"\0")  # a shell string cannot hold NUL: dropped
    null = os.open("/dev/null", os.O_RDONLY)
    r, w = os.pipe()
    before = pids()
    start = time.monotonic()
    try:
        pid = spawn_retrying(["bash", "--noprofile", "--norc", "-c", WRAPPER], env, {0: null, 1: w, 2: w, 3: cmd_fd}, notes)
    except OSError as exc:  # e.g. no memory left: the agent's doing, reported as the command's result
        os.close(r)
        msg = ("[the sandbox could not start the command: %s]\n" % exc).encode()
        return {"ok": True, "exit_code": 126, "timed_out": False, "head": base64.b64encode(msg).decode(),
                "tail": "", "dropped": 0, "duration": time.monotonic() - start, "notes": notes}
    finally:
        for fd in (w, null, cmd_fd):
            os.close(fd)
    WATCHED[pid] = None
    pfd = exit_fd(pid)
    first = bytearray()
    last = bytearray()
    total = 0
    timed_out = False
    status = None
    exited_at = None
    reading = True
    deadline = start + timeout
    while True:
        now = time.monotonic()
        if status is None:
            reap()
            status = WATCHED.get(pid)
            if status is not None:
                exited_at = now
        if exited_at is not None and (not reading or now - exited_at > 0.05):
            break  # background children may hold the pipe open; stop waiting for them
        if status is None and now >= deadline:
            timed_out = True
            kill_new(before, pid)
            status = wait_for(pid, 10) or 9
            exited_at = time.monotonic()
            continue
        if exited_at is not None:
            wait = 0.01
        else:
            wait = max(0.0, min(1.0 if pfd is not None else 0.002 if not reading else 0.05, deadline - now))
        fds = ([r] if reading else []) + ([pfd] if pfd is not None and status is None else [])
        if not fds:
            time.sleep(wait)
            continue
        ready, _, _ = select.select(fds, [], [], wait)
        if r not in ready:
            continue
        chunk = os.read(r, 65536)
        if not chunk:
            reading = False
            continue
        total += len(chunk)
        if len(first) < head:
            take = head - len(first)
            first += chunk[:take]
            chunk = chunk[take:]
        if chunk and tail > 0:
            last += chunk
            if len(last) > tail:
                del last[: len(last) - tail]
    os.close(r)
    if pfd is not None:
        os.close(pfd)
    WATCHED.pop(pid, None)
    code = 124 if timed_out else os.waitstatus_to_exitcode(status)
    if code < 0:
        code = 128 - code
    if PROC_LIMIT and len(pids()) >= PROC_LIMIT * 0.9:
        n = kill_all()
        notes.append("the sandbox was at its process limit (%d); all %d of its processes were killed" % (PROC_LIMIT, n))
    dropped = total - len(first) - len(last)
    return {"ok": True, "exit_code": code, "timed_out": timed_out, "head": base64.b64encode(bytes(first)).decode(),
            "tail": base64.b64encode(bytes(last)).decode(), "dropped": dropped,
            "duration": time.monotonic() - start, "notes": notes}


def execute(req):
    argv = [str(a) for a in req["argv"]]
    env = dict(CLEAN_ENV)
    env.update(req.get("env") or {})
    timeout = float(req.get("timeout") or 60)
    limit = int(req.get("limit") or 64_000_000)
    notes = []
    stdin = memfile(base64.b64decode(req["stdin"])) if req.get("stdin") else os.open("/dev/null", os.O_RDONLY)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    before = pids()
    try:
        pid = spawn_retrying(argv, env, {0: stdin, 1: out_w, 2: err_w}, notes, cwd=req.get("cwd") or "/")
    except OSError as exc:
        for fd in (stdin, out_r, out_w, err_r, err_w):
            os.close(fd)
        return {"ok": True, "exit_code": 126, "timed_out": False, "truncated": False, "stdout": "",
                "stderr": base64.b64encode(("spawn failed: %s" % exc).encode()).decode(), "notes": notes}
    for fd in (stdin, out_w, err_w):
        os.close(fd)
    WATCHED[pid] = None
    pfd = exit_fd(pid)
    out = bytearray()
    err = bytearray()
    over = False
    open_fds = [out_r, err_r]
    deadline = time.monotonic() + timeout
    status = None
    exited_at = None
    while open_fds:
        now = time.monotonic()
        if status is None:
            reap()
            status = WATCHED.get(pid)
            if status is not None:
                exited_at = now
        if now >= deadline or over or (exited_at is not None and now - exited_at > 0.5):
            break  # out of time, over the limit, or leftovers holding the pipes after the command exited
        watch = open_fds + ([pfd] if pfd is not None and status is None else [])
        ready, _, _ = select.select(watch, [], [], min(deadline - now, 0.1 if pfd is None or status is not None else 0.5))
        for fd in ready:
            if fd == pfd:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.remove(fd)
            elif fd == out_r:
                out += chunk
                over = len(out) > limit
            else:
                err += chunk
                del err[:-20000]
    os.close(out_r)
    os.close(err_r)
    if pfd is not None:
        os.close(pfd)
    if status is None and not over:
        status = wait_for(pid, max(0.0, deadline - time.monotonic()))
    timed_out = status is None and not over
    kill_new(before, pid)  # the machinery's commands leave nothing behind
    if status is None:
        status = wait_for(pid, 10)
    WATCHED.pop(pid, None)
    if status is None:
        status = 9
    code = 124 if timed_out else os.waitstatus_to_exitcode(status)
    return {"ok": True, "exit_code": code, "timed_out": timed_out, "truncated": over,
            "stdout": base64.b64encode(bytes(out[:limit])).decode(), "stderr": base64.b64encode(bytes(err)).decode(),
            "notes": notes}


def write(req):
    path = req["path"]
    data = base64.b64decode(req["data"])
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    mode = req.get("mode")
    if mode is None:
        try:
            st = os.stat(path)
            import stat as _stat
            mode = _stat.S_IMODE(st.st_mode) if _stat.S_ISREG(st.st_mode) else None
        except OSError:
            mode = None
    tmp = os.path.join(d, ".agentgym-%s.tmp" % os.urandom(6).hex())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    try:
        _write_all(fd, data)
        if mode is not None:
            os.fchmod(fd, int(mode))
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return {"ok": True, "size": len(data)}


def read(req):
    import stat as _stat
    path = req["path"]
    limit = int(req.get("limit") or 50_000_000)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not _stat.S_ISREG(os.fstat(fd).st_mode):
            return {"ok": False, "error": "not a regular file: %s" % path}
        chunks = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    return {"ok": True, "data": base64.b64encode(data[:limit]).decode(), "truncated": len(data) > limit}


def seed():
    # copy read-only seed trees into their (empty, size-limited) writable mounts
    for pair in filter(None, SEED.split(";")):
        src, dst = pair.split(":", 1)
        if os.path.isdir(src):
            pid = os.posix_spawn("/bin/cp", ["cp", "-dR", "--preserve=mode,timestamps,links", "--", src + "/.", dst + "/"], CLEAN_ENV)
            _, st = os.waitpid(pid, 0)
            if st != 0:
                raise RuntimeError("could not copy %s to %s" % (src, dst))


def main():
    protect()
    seed()
    os.makedirs(STATE, exist_ok=True)
    handlers = {"run": run, "exec": execute, "write": write, "read": read,
                "killall": lambda req: {"ok": True, "killed": kill_all()},
                "ping": lambda req: {"ok": True, "pid": ME}}
    out = sys.stdout.buffer

    def reply(obj):
        out.write(json.dumps(obj).encode() + b"\n")
        out.flush()

    reply({"ok": True, "ready": True, "pid": ME, "init": ME == 1})
    buf = bytearray()
    while True:
        ready, _, _ = select.select([0], [], [], 1.0)
        if not ready:
            reap()
            continue
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        buf += chunk
        while True:
            idx = buf.find(b"\n")
            if idx < 0:
                break
            line = bytes(buf[:idx])
            del buf[: idx + 1]
            try:
                req = json.loads(line)
                resp = handlers[req["op"]](req)
            except Exception as exc:
                resp = {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}
            reply(resp)


main()
"""
