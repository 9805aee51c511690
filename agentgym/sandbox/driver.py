"""The in-sandbox driver: one long-lived process that runs commands on request.

Its source is sent as `python3 -c SOURCE` when a sandbox starts (Docker container main process or
bubblewrap child), so nothing needs installing in the image. Protocol on stdin/stdout: one JSON
object per line each way. Requests:

    {"op": "run", "cmd": str, "timeout": float, "head": int, "tail": int}
    {"op": "write", "path": str, "data": base64, "mode": int | null}
    {"op": "read", "path": str, "limit": int}
    {"op": "ping"}

Every command runs in a fresh `bash` in its own session (process group) with stdin from
/dev/null and stdout+stderr merged into one pipe; the shell's working directory and exported
variables are saved after each command and restored before the next, so `cd` and `export` behave
as in one long shell while a hung or crashed command cannot wedge the driver. On timeout the whole
process group is killed (SIGKILL) and the exit code is 124. Output is kept head + tail, with the
number of dropped bytes, and returned base64-encoded (binary-safe).
"""

DRIVER_SOURCE = r"""
import base64, json, os, select, signal, subprocess, sys, time

STATE = os.environ.get("AGENTGYM_STATE", "/tmp/.agentgym-state")
os.makedirs(STATE, exist_ok=True)
WRAPPER = (
    '__ag_state="$AGENTGYM_STATE"\n'
    'if [ -r "$__ag_state/env" ]; then . "$__ag_state/env" >/dev/null 2>&1; fi\n'
    'if [ -r "$__ag_state/cwd" ]; then read -r __ag_dir < "$__ag_state/cwd"; cd -- "$__ag_dir" 2>/dev/null; fi\n'
    '__ag_save() { __ag_rc=$?; pwd > "$__ag_state/cwd"; export -p > "$__ag_state/env" 2>/dev/null; exit $__ag_rc; }\n'
    'trap __ag_save EXIT\n'
    '. "$__ag_state/cmd"\n'
)

out = sys.stdout.buffer
inp = sys.stdin.buffer

def reply(obj):
    out.write(json.dumps(obj).encode() + b"\n")
    out.flush()

def run(req):
    cmd = req["cmd"]
    timeout = float(req.get("timeout") or 60)
    head = int(req.get("head", 8000))
    tail = int(req.get("tail", 8000))
    with open(os.path.join(STATE, "cmd"), "w") as f:
        f.write(cmd + "\n")
    env = dict(os.environ)
    env["AGENTGYM_STATE"] = STATE
    r, w = os.pipe()
    start = time.monotonic()
    try:
        proc = subprocess.Popen(["bash", "--noprofile", "--norc", "-c", WRAPPER], stdin=subprocess.DEVNULL,
                                stdout=w, stderr=w, start_new_session=True, env=env, close_fds=True)
    except Exception as exc:
        os.close(r); os.close(w)
        return {"ok": False, "error": "spawn failed: %s" % exc}
    os.close(w)
    first = bytearray()
    last = bytearray()
    total = 0
    timed_out = False
    exited_at = None
    deadline = start + timeout
    while True:
        now = time.monotonic()
        if exited_at is None and proc.poll() is not None:
            exited_at = now
        if exited_at is not None and now - exited_at > 0.05:
            break  # background children may hold the pipe open; stop waiting for them
        if exited_at is None and now >= deadline:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            exited_at = time.monotonic()
            continue
        wait = 0.05 if exited_at is not None else min(0.2, max(0.0, deadline - now))
        ready, _, _ = select.select([r], [], [], wait)
        if not ready:
            continue
        chunk = os.read(r, 65536)
        if not chunk:
            if exited_at is None:
                proc.wait()
            break
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
    code = proc.wait()
    if timed_out:
        code = 124
    elif code < 0:
        code = 128 - code
    dropped = total - len(first) - len(last)
    return {"ok": True, "exit_code": code, "timed_out": timed_out, "head": base64.b64encode(bytes(first)).decode(),
            "tail": base64.b64encode(bytes(last)).decode(), "dropped": dropped,
            "duration": time.monotonic() - start}

def write(req):
    path = req["path"]
    data = base64.b64decode(req["data"])
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    tmp = path + ".agentgym-tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    if req.get("mode") is not None:
        os.chmod(tmp, int(req["mode"]))
    elif os.path.exists(path):
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    os.replace(tmp, path)
    return {"ok": True, "size": len(data)}

def read(req):
    path = req["path"]
    limit = int(req.get("limit") or 50_000_000)
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    return {"ok": True, "data": base64.b64encode(data[:limit]).decode(), "truncated": len(data) > limit}

HANDLERS = {"run": run, "write": write, "read": read, "ping": lambda req: {"ok": True, "pid": os.getpid()}}

reply({"ok": True, "ready": True, "pid": os.getpid()})
while True:
    line = inp.readline()
    if not line:
        break
    try:
        req = json.loads(line)
        resp = HANDLERS[req["op"]](req)
    except Exception as exc:
        resp = {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}
    reply(resp)
"""
