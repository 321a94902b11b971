"""The Python side of a pi-executor kernel.

This module is compiled into the pi-executor binary and imported once by the
zygote, after numpy, pandas and matplotlib.  Every kernel is a forked child
that calls serve(): it reads cells from its control pipe (fd 4), one JSON
line each, and runs them.  A stateless kernel runs exactly one cell and is
then killed, so whatever the user's code changes (globals, modules, monkey
patches) dies with it and nothing leaks into the next run.  A session kernel
keeps one __main__ namespace across its cells, like a notebook kernel.

run() executes the code like a notebook cell (the value of a trailing
expression is the result), collects the cell's rich outputs (display(),
plt.show(), figures, plotly: pi_outputs, compiled in beside this module) and
changed workspace files, and writes one final JSON line to the result channel
(fd 3 in the child).  pi.progress() writes progress lines to the same channel; the
zygote forwards them to the client at once.  stdout and stderr are plain
pipes that the zygote captures.
"""

import _signal
import builtins
import io
import json
import linecache
import math
import os
import random
import re
import resource
import signal
import sys
import traceback
import types

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import pi_outputs
import pi_pdf
from pi_cellcode import CELL, compile_cell
from pi_kernelstate import find_numpy_state, reseed, set_thread_pools

# Limits on what one result carries; the zygote's frame limit is 256 MiB,
# these keep a single value from crowding out stdout, stderr and figures.
MAX_REPR_CHARS = 100_000
MAX_JSON_CHARS = 100_000
MAX_JSON_ITEMS = 100_000        # elements looked at before giving up on "json"
TABLE_ROWS = 100
TABLE_COLUMNS = 100
TEXT_ROWS = 60
MAX_SNAPSHOT_ENTRIES = 10_000   # files compared before and after a run
MAX_PROGRESS_MESSAGE = 1000

_UNSAFE_CHARS = re.compile("[\x00\ud800-\udfff]")


class _NotJson(Exception):
    """A value has no faithful, small JSON form."""


def _clean(text):
    """Replace NUL and lone surrogates, which jsonb and UTF-8 refuse."""
    if _UNSAFE_CHARS.search(text) is None:
        return text
    return _UNSAFE_CHARS.sub("\ufffd", text)


_INT64_MIN = -(2 ** 63)
_INT64_MAX = 2 ** 63 - 1


def _sanitise(obj):
    """Make obj safe for every JSON reader on the way (jansson, jsonb).

    Strings lose NUL and lone surrogates; integers outside int64 (2**64, a
    factorial) become their decimal text, which no reader can overflow on.
    """
    if isinstance(obj, str):
        return _clean(obj)
    if isinstance(obj, int) and not isinstance(obj, bool) and \
            not _INT64_MIN <= obj <= _INT64_MAX:
        return str(obj)
    if isinstance(obj, dict):
        return {_clean(str(k)): _sanitise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_sanitise(v) for v in obj]
    return obj


# The final line of a cell that printed its way to nothing else
_EMPTY_FINAL = (json.dumps({"type": "final", "result": None, "error": None, "outputs": [],
                            "figures": [], "files": []}) + "\n").encode("ascii")


class _Channel:
    """Newline-delimited JSON lines to the zygote (fd 3)."""

    def __init__(self, fd):
        self.fd = fd

    def send(self, obj):
        self.send_line(json.dumps(_sanitise(obj), ensure_ascii=True,
                                  allow_nan=False).encode("ascii") + b"\n")

    def send_line(self, data):
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


# --- values -----------------------------------------------------------------

def _scalar(value):
    """A JSON-safe form of one table cell or scalar; never raises."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _scalar(value.item())
    try:
        if value is pd.NaT or (not isinstance(value, (list, tuple, dict))
                               and pd.isna(value)):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _to_json(value, budget):
    """Convert value to JSON types, or raise _NotJson."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _NotJson()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        if value.size > budget[0] or value.dtype.kind not in "biufcUSO":
            raise _NotJson()
        return _to_json(value.tolist(), budget)
    if isinstance(value, np.generic):
        return _to_json(value.item(), budget)
    if isinstance(value, (list, tuple)):
        return [_to_json(v, budget) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise _NotJson()
        return {k: _to_json(v, budget) for k, v in value.items()}
    raise _NotJson()


def _table(obj):
    frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
    head = frame.iloc[:TABLE_ROWS, :TABLE_COLUMNS]
    return {
        "columns": [_scalar(c) if isinstance(c, (str, int)) else str(c)
                    for c in head.columns],
        "index": [_scalar(i) for i in head.index],
        "data": [[_scalar(v) for v in row]
                 for row in head.itertuples(index=False, name=None)],
        "shape": list(frame.shape),
        "truncated": bool(frame.shape[0] > TABLE_ROWS
                          or frame.shape[1] > TABLE_COLUMNS),
    }


def _describe(value):
    try:
        text = repr(value)
    except Exception as exc:
        text = "<repr failed: %s: %s>" % (type(exc).__name__, exc)
    if len(text) > MAX_REPR_CHARS:
        text = text[:MAX_REPR_CHARS] + "... [repr truncated, %d characters]" % len(text)
    out = {"type": type(value).__name__, "repr": text}
    if isinstance(value, (pd.DataFrame, pd.Series)):
        out["text"] = value.to_string(max_rows=TEXT_ROWS)
        out["table"] = _table(value)
        return out
    try:
        converted = _to_json(value, [MAX_JSON_ITEMS])
        if len(json.dumps(converted, allow_nan=False)) <= MAX_JSON_CHARS:
            out["json"] = converted
    except (_NotJson, ValueError, TypeError, RecursionError):
        pass
    return out


# --- errors -----------------------------------------------------------------

def _user_traceback(exc):
    """The traceback without the runner's frames, as text.

    The frames of the cell are what the user can act on; the innermost frame
    is kept too when it lies in a library, since it says where the error
    was actually raised.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    keep = [f for f in frames if f.filename == CELL]
    if frames and frames[-1].filename != CELL:
        keep.append(frames[-1])
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.StackSummary.from_list(keep).format()
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def _error(exc, limits):
    if isinstance(exc, SyntaxError):
        return {
            "type": type(exc).__name__,
            "message": "%s (line %s, offset %s)" % (exc.msg, exc.lineno, exc.offset),
            "line": exc.lineno,
            "offset": exc.offset,
            "traceback": "".join(traceback.format_exception_only(type(exc), exc)),
        }
    kind = type(exc).__name__
    try:
        message = str(exc)
    except Exception:
        message = "<str() of the exception failed>"
    if isinstance(exc, MemoryError):
        kind = "MemoryLimitExceeded"
        message = ("the run ran out of memory: its limit is %d MB "
                   "(Python raised MemoryError%s)"
                   % (limits["memory_mb"], ": " + message if message else ""))
    elif isinstance(exc, OSError) and exc.errno == 27:      # EFBIG from RLIMIT_FSIZE
        kind = "FileSizeLimitExceeded"
        message = ("a file grew past the limit of %d MB per file (%s)"
                   % (limits["max_file_size_mb"], message))
    return {"type": kind, "message": message, "traceback": _user_traceback(exc)}


# --- running the cell ---------------------------------------------------------

def _main_namespace(display):
    """A fresh __main__ with the preloaded libraries under their usual names,
    and display().  Made once, in the zygote (prepare): every kernel gets
    its own copy of it with the rest of its memory."""
    main = types.ModuleType("__main__")
    main.__dict__.update({"__builtins__": builtins, "np": np, "pd": pd,
                          "plt": plt, "display": display.display})
    sys.modules["__main__"] = main
    return main.__dict__


def _execute(code, namespace, limits, display):
    """Run the cell; return (result, error).  The value of a trailing
    expression is also the cell's execute_result output."""
    try:
        body, last = compile_cell(code)
    except (SyntaxError, ValueError) as exc:
        if isinstance(exc, ValueError):     # e.g. NUL in the source
            return None, {"type": "SyntaxError", "message": str(exc),
                          "traceback": ""}
        return None, _error(exc, limits)
    try:
        for part in body:
            exec(part, namespace)
        value = eval(last, namespace) if last is not None else None
    except SystemExit as exc:
        if exc.code in (None, 0):
            return None, None
        return None, {"type": "SystemExit",
                      "message": "the code called exit(%r)" % (exc.code,),
                      "traceback": _user_traceback(exc)}
    except BaseException as exc:
        return None, _error(exc, limits)
    if value is None:
        return None, None
    try:
        display.show(value, "execute_result")
        return _describe(value), None
    except Exception as exc:
        return None, {"type": "ResultError",
                      "message": "the value of the last expression could not be "
                      "described: %s: %s" % (type(exc).__name__, exc),
                      "traceback": ""}


# --- files -----------------------------------------------------------------------

def _snapshot(root):
    """{relative path: (size, mtime_ns)} of regular files, links not followed."""
    seen = {}
    stack = [""]
    while stack and len(seen) < MAX_SNAPSHOT_ENTRIES:
        rel = stack.pop()
        try:
            entries = list(os.scandir(os.path.join(root, rel) if rel else root))
        except OSError:
            continue
        for entry in entries:
            path = rel + "/" + entry.name if rel else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(path)
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    seen[path] = (st.st_size, st.st_mtime_ns)
            except OSError:
                continue
            if len(seen) >= MAX_SNAPSHOT_ENTRIES:
                break
    return seen


def _changed_files(before, after):
    changes = []
    for path in sorted(after):
        if path not in before:
            changes.append({"path": path, "size": after[path][0], "change": "created"})
        elif after[path] != before[path]:
            changes.append({"path": path, "size": after[path][0], "change": "modified"})
    return changes


# --- the pi module and the streams ----------------------------------------------

class QueryError(Exception):
    """pi.query() or pi.datasets() was refused; .hint says what to do."""

    def __init__(self, message, hint=None):
        super().__init__(message if not hint else "%s (hint: %s)" % (message, hint))
        self.message = message
        self.hint = hint


_decode_json = json.JSONDecoder().raw_decode


class _Control:
    """The control pipe (fd 4): cells and answers, one JSON object a line."""

    def __init__(self, fd):
        self.fd = fd
        self.pending = b""

    def read(self):
        """The next object, or None at end of file."""
        while b"\n" not in self.pending:
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return None
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        # the loop writes one compact UTF-8 object a line: no need for
        # json.loads' encoding detection and whitespace checks
        return _decode_json(line.decode("utf-8"))[0]


_DATETIME_TYPES = ("date", "timestamp", "timestamp without time zone",
                   "timestamp with time zone", "timestamptz")
_NUMBER_TYPES = ("smallint", "integer", "bigint", "int2", "int4", "int8",
                 "real", "double precision", "float4", "float8", "numeric")


def _frame(result):
    """A DataFrame from pi.query's answer {columns: [{name, type}], rows}."""
    columns = result.get("columns") or []
    names = [c.get("name") for c in columns]
    rows = result.get("rows") or []
    frame = pd.DataFrame.from_records(rows, columns=names) if rows else \
        pd.DataFrame({n: [] for n in names})
    # duplicate names are legal in SQL: work by position
    for i, col in enumerate(columns):
        kind = str(col.get("type") or "").lower()
        series = frame.iloc[:, i]
        try:
            if kind in _DATETIME_TYPES or kind.startswith("timestamp"):
                series = pd.to_datetime(series, utc=kind.endswith("tz")
                                        or "with time zone" in kind)
            elif kind in ("smallint", "integer", "bigint", "int2", "int4", "int8"):
                series = series.astype("Int64") if series.isna().any() else series.astype("int64")
            elif kind in _NUMBER_TYPES:
                series = pd.to_numeric(series)
            elif kind in ("boolean", "bool"):
                series = series.astype("boolean") if series.isna().any() else series.astype(bool)
        except (ValueError, TypeError, OverflowError):
            pass
        frame.isetitem(i, series)
    frame.attrs["truncated"] = bool(result.get("truncated"))
    frame.attrs["row_count"] = result.get("row_count")
    return frame


def _make_pi_module(channel, control):
    pi = types.ModuleType("pi", "Power Interpreter run context.")

    def progress(fraction, message=None):
        """Report progress of this run: fraction in 0..1, optional message."""
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.number)):
            raise TypeError("pi.progress: fraction must be a number between 0 and 1")
        fraction = float(fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("pi.progress: fraction must be between 0 and 1, got %r" % fraction)
        if message is not None:
            message = str(message)[:MAX_PROGRESS_MESSAGE]
        channel.send({"type": "progress", "progress": fraction, "message": message})

    def _ask(request):
        channel.send(request)
        answer = control.read()
        if answer is None:
            raise QueryError("the executor closed the connection")
        if not answer.get("ok"):
            raise QueryError(answer.get("error") or "the query failed", answer.get("hint"))
        return answer.get("result") or {}

    def query(sql, max_rows=1000):
        """Run one read-only SELECT over schema pi_data (the same rules as
        SQL's pi.query) and return a pandas DataFrame.  Refused statements
        raise pi.QueryError."""
        if not isinstance(sql, str):
            raise TypeError("pi.query: sql must be a string")
        if isinstance(max_rows, bool) or not isinstance(max_rows, int):
            raise TypeError("pi.query: max_rows must be an integer")
        return _frame(_ask({"type": "query", "sql": sql, "max_rows": max_rows}))

    def datasets():
        """The loaded datasets (pi.list_datasets) as a DataFrame."""
        result = _ask({"type": "query", "datasets": True})
        if isinstance(result, list):
            return pd.DataFrame(result)
        if isinstance(result, dict) and "columns" in result:
            return _frame(result)
        return pd.DataFrame(result)

    pi.progress = progress
    pi.query = query
    pi.datasets = datasets
    pi.QueryError = QueryError
    pi.pdf_text = pi_pdf.pdf_text
    pi.pdf_tables = pi_pdf.pdf_tables
    pi.workspace = None
    pi.session_id = None
    pi.job_id = None
    sys.modules["pi"] = pi
    return pi


def _bind_pi_module(workspace, session_id, job_id):
    """The pi module made in the zygote, with this cell's ids.  A session's
    code may have replaced or removed it: its own module is kept, a
    missing one is put back."""
    pi = sys.modules.get("pi")
    if not isinstance(pi, types.ModuleType):
        pi = sys.modules["pi"] = _kernel["pi"]
    pi.workspace = workspace
    pi.session_id = session_id
    pi.job_id = job_id


def _unbuffered_stream(fd):
    # Unbuffered like "python -u", so everything printed before a timeout
    # kill is already in the pipe.
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace",
                            newline="\n", line_buffering=False, write_through=True)


def _setup_streams():
    sys.stdout = sys.__stdout__ = _unbuffered_stream(1)
    sys.stderr = sys.__stderr__ = _unbuffered_stream(2)
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False),
                                                 encoding="utf-8")


# --- entry points -----------------------------------------------------------------

def warm_up():
    """Called once in the zygote: draw and encode one figure, so that fonts,
    the PNG writer and their caches are loaded before the first fork instead
    of in every child."""
    fig = plt.figure()
    fig.gca().plot([0, 1], [0, 1])
    fig.gca().set_title("warm-up")
    fig.savefig(io.BytesIO(), format="png", dpi=pi_outputs.FIGURE_DPI)
    pi_outputs.figure_png(fig)
    plt.close("all")
    # pandas' own plotting path (DataFrame.plot, Series.plot) imports its
    # matplotlib backend module and builds locators and formatters on first
    # use: pay that here, once, not in every kernel's first chart
    frame = pd.DataFrame({"g": [0, 1, 2], "x": [0.5, 1.5, 1.0]})
    for axes in (frame.plot(title="warm-up"), frame["x"].plot(kind="bar"),
                 frame.plot(x="g", y="x", kind="scatter"),
                 frame["x"].plot(kind="hist")):
        pi_outputs.figure_png(axes.figure)
    plt.close("all")
    pi_outputs.warm_up()
    json.dumps({"a": [1.0]}, ensure_ascii=True, allow_nan=False)


def _reset_environment(environment):
    """os.environ := the sandbox's fixed set ("NAME=value" strings).

    jail_enter already replaced the C environment, but os.environ is the
    mapping the zygote built at start-up (its HOME, MPLCONFIGDIR...)."""
    if environment is None:
        return
    fixed = dict(item.split("=", 1) for item in environment)
    for name in list(os.environ):
        if name not in fixed:
            del os.environ[name]
    os.environ.update(fixed)


_in_cell = [False]
_SIGINT = int(signal.SIGINT)


def _on_sigint(signum, frame):
    # The zygote interrupts a session's cell on timeout or cancel; between
    # cells (writing the final line, waiting for the next) it is ignored.
    if _in_cell[0]:
        raise KeyboardInterrupt("the cell was interrupted (time limit or cancel)")


def _apply_limits(cell, one_shot):
    """The run's own limits, below the kernel's ceilings.

    RLIMIT_AS and RLIMIT_FSIZE: soft = hard = the run's value (never above
    the ceiling set when the kernel was made).  RLIMIT_CPU counts the whole
    life of the process, so it is the CPU already used plus the timeout; a
    stateless kernel gets hard = soft + 1 (SIGKILL backstop), a session
    kernel keeps an open hard limit so later cells can still be given time."""
    for res, value in ((resource.RLIMIT_AS, cell.get("memory_mb")),
                       (resource.RLIMIT_FSIZE, cell.get("max_file_size_mb"))):
        if not value:
            continue
        value = int(value) << 20
        soft, hard = resource.getrlimit(res)
        if hard != resource.RLIM_INFINITY and value > hard:
            value = hard
        resource.setrlimit(res, (value, value if one_shot else hard))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(math.ceil(usage.ru_utime + usage.ru_stime)) + int(cell.get("timeout_s") or 300) + 1
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if one_shot:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    elif hard == resource.RLIM_INFINITY or cpu <= hard:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, hard))


def _run_cell(cell, channel, control, namespace, display, workspace,
              workspace_is_session, one_shot):
    limits = {"memory_mb": cell.get("memory_mb", 0),
              "max_file_size_mb": cell.get("max_file_size_mb", 0)}
    _bind_pi_module(workspace, cell.get("session_id"), cell.get("job_id"))
    before = _snapshot(workspace) if workspace_is_session else None
    display.start(workspace, workspace_is_session)
    try:
        _in_cell[0] = True
        result, error = _execute(cell.get("code", ""), namespace, limits, display)
    finally:
        _in_cell[0] = False
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    try:
        outputs, figures = display.finish()
    except Exception as exc:
        outputs = display.outputs
        figures = [{"path": None, "error": "%s: %s" % (type(exc).__name__, exc)}]
    files = []
    if workspace_is_session:
        files = _changed_files(before, _snapshot(workspace))
    if one_shot:
        # the zygote answers once the final line is in: nothing may follow
        # on stdout/stderr, so close them first
        for fd in (1, 2):
            try:
                os.close(fd)
            except OSError:
                pass
    if result is None and error is None and not outputs and not figures and not files:
        channel.send_line(_EMPTY_FINAL)     # most cells: no JSON work
    else:
        channel.send({"type": "final", "result": result, "error": error,
                      "outputs": outputs, "figures": figures, "files": files})


def _warm_kernel(workspace, workspace_is_session, display):
    """Run the runner's own machinery once on a no-op cell, in a scratch
    namespace, while the kernel waits for its first cell: the copy-on-write
    faults of a fresh fork (the compiler, exec, the result and JSON code)
    are paid here, off the critical path, instead of in the user's run."""
    try:
        scratch = {"__builtins__": builtins, "np": np, "pd": pd, "plt": plt}
        display.start(workspace, False)
        _execute("_w = [1]\nprint(end='')\n_w[0] + 1", scratch,
                 {"memory_mb": 0, "max_file_size_mb": 0}, display)
        outputs, figures = display.finish()
        json.dumps(_sanitise({"type": "final", "result": _describe(2), "error": None,
                              "outputs": outputs, "figures": figures, "files": []}),
                   ensure_ascii=True, allow_nan=False)
        if workspace_is_session:
            _changed_files({}, _snapshot(workspace))
        _bind_pi_module(workspace, None, None)
        plt.get_fignums()
        linecache.cache.pop(CELL, None)
    except Exception:
        pass


# A typical assistant cell (pandas and a chart) for probe_written_pages()
_PROBE_CELL = """frame = pd.DataFrame({"g": np.arange(10000) % 10, "x": np.random.rand(10000)})
summary = frame.groupby("g")["x"].agg(["mean", "std", "count"])
fig, ax = plt.subplots()
ax.plot(summary.index, summary["mean"].values)
ax.set_title("mean x by g")
summary.head()"""


def probe_written_pages(workspace):
    """In a throwaway fork of the zygote: run a typical cell as serve() does
    (decoded, run in __main__, figure made PNG, final line written to
    /dev/null) so that the zygote learns which of its pages such a cell
    copies (prefault.c).  Only our own code runs; no file is written."""
    reseed()
    cell = _decode_json(json.dumps({"type": "cell", "code": _PROBE_CELL}))[0]
    _run_cell(cell, _Channel(os.open(os.devnull, os.O_WRONLY)), _kernel["control"],
              _kernel["namespace"], _kernel["display"], workspace, False, False)


# What every kernel shares, made once in the zygote by prepare() before the
# forkers are forked: a kernel writes only what differs per run.
_kernel = {}


def prepare(environment=None):
    """Once, in the zygote, after warm_up(): everything serve() needs that is
    the same in every kernel (os.environ, the standard streams on fds 0-2,
    the result and control channels, the display hooks).  Made here, it is
    inherited copy-on-write; made in each kernel, it cost every run ~1.5 ms
    and ~400 page copies (measured).  These objects only name descriptors
    and hold empty buffers: no kernel's data can be in them."""
    _reset_environment(environment)
    _setup_streams()
    display = pi_outputs.Display()
    pi_outputs.install(display)
    _kernel.update(channel=_Channel(3), control=_Control(4), display=display)
    # made here, a kernel only sets its ids: a module and its functions
    # made in each kernel copied ~150 pages (sys.modules grew by one)
    _kernel["pi"] = _make_pi_module(_kernel["channel"], _kernel["control"])
    find_numpy_state()          # also sets the position to 624, no Gaussian
    random._inst.gauss_next = None
    _warm_serve_path(display)
    # last: nothing may run in __main__ after this (zygote.c freezes the
    # collector through the C API, not a script in __main__)
    _kernel["namespace"] = _main_namespace(display)


def _warm_serve_path(display):
    """In the zygote, from prepare(): serve()'s path for a small cell, once,
    in a scratch namespace with the final line sent to /dev/null, so that
    kernels inherit what it fills in (CPython's type attribute cache,
    interned names, lazily made objects) instead of each writing it in
    its own run (measured: ~100 copy-on-write faults of a print(1) run).
    Only our own code runs, and no rlimit is set here."""
    sink = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    try:
        cell = _decode_json(json.dumps({"type": "cell", "code": "_w = [1]\nprint(end='')",
                                        "timeout_s": 30, "memory_mb": 0}))[0]
        resource.getrusage(resource.RUSAGE_SELF)
        for res in (resource.RLIMIT_AS, resource.RLIMIT_FSIZE, resource.RLIMIT_CPU):
            resource.getrlimit(res)
        _run_cell(cell, _Channel(sink), _kernel["control"], {"__builtins__": builtins},
                  display, os.getcwd(), False, False)
    finally:
        os.close(sink)
        linecache.cache.pop(CELL, None)


def serve(control_fd, result_fd, one_shot, workspace_is_session,
          session_id=None, blas_threads=1, cell_waiting=False, prefault=None):
    """The kernel's loop: wait for a cell on the control pipe, run it, write
    the final line on the result channel; a stateless kernel (one_shot) then
    waits to be killed.

    With the sandbox the current directory is /workspace: the session
    workspace, or the kernel's temporary one.  control_fd and result_fd are
    the descriptors prepare() made the channels for (4 and 3); cell_waiting
    says whether a cell was already in the control pipe when the kernel
    started (child.c looks); prefault (stateless kernels) copies ahead the
    pages a typical cell writes until a cell comes (prefault.c)."""
    if control_fd != _kernel["control"].fd or result_fd != _kernel["channel"].fd:
        raise RuntimeError("serve() called with descriptors prepare() did not set up")
    set_thread_pools(blas_threads)
    channel = _kernel["channel"]
    control = _kernel["control"]
    display = _kernel["display"]
    # the C function: signal.signal's enum conversions of the old handler
    # (an exception caught inside) copied ~60 pages in every kernel
    _signal.signal(_SIGINT, _on_sigint)
    reseed()
    workspace = os.getcwd()
    # Warm-up and copying ahead only help a kernel that waits for its cell:
    # with the cell already in the pipe (the pool was empty, a session's
    # first cell) they would be on its critical path, and their faults
    # mostly overlap the cell's (under 8 clients: ~0.5 ms less CPU a run).
    if not cell_waiting:
        _warm_kernel(workspace, workspace_is_session, display)
        if prefault is not None:
            prefault()
    namespace = _kernel["namespace"]
    while True:
        try:
            cell = control.read()
        except KeyboardInterrupt:
            continue
        if cell is None:
            os._exit(0)
        if cell.get("type") != "cell":
            continue
        _apply_limits(cell, one_shot)
        _run_cell(cell, channel, control, namespace, display, workspace,
                  workspace_is_session, one_shot)
        if one_shot:
            while True:         # the zygote kills us when it suits it
                try:
                    if control.read() is None:
                        os._exit(0)
                except KeyboardInterrupt:
                    pass
