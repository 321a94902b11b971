"""Rich outputs of a cell: display(), plt.show(), figures, plotly.

Compiled into the pi-executor binary beside runner.py and imported once by
the zygote as module pi_outputs, before the runner, which is its only user.

A cell's outputs are a list in the order they were made, each a Jupyter-like
bundle {"type": "display_data" | "execute_result", "data": {mime: value},
"metadata": {...}}: text values as strings, images as base64 strings, JSON
types (application/json, application/vnd.plotly.v1+json) as JSON.  Rich
forms come from the IPython protocol (_repr_mimebundle_, _repr_html_,
_repr_png_, ...), which pandas' Styler, PIL images and IPython.display
objects implement; IPython itself is not loaded (importing IPython.display
costs ~200 ms and thousands of objects in the zygote; this module is what a
kernel needs of it).

stdout and stderr are not outputs here: they are pipes the zygote captures.
"""

import base64
import importlib.abc
import importlib.machinery
import io
import json
import os
import struct
import sys
import time
import zlib

import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

# What one cell's outputs may carry: the zygote's frame limit is 256 MiB and
# figures travel twice (outputs and the compatible figures list).
MAX_OUTPUTS = 200
MAX_OUTPUTS_BYTES = 48 << 20
MAX_TEXT_CHARS = 100_000        # one text/plain (a repr)
MAX_HTML_CHARS = 1_000_000      # one text/html, text/markdown, image/svg+xml
MAX_PLOTLY_JSON_CHARS = 20_000_000
TABLE_ROWS = 60                 # rows of a DataFrame's HTML and Markdown
TABLE_COLUMNS = 50
FIGURE_DPI = 100
PNG_ZLIB_LEVEL = 3

# plotly.js inlined into the HTML files of plotly figures (the sandbox has no
# network): the minified copy scripts/deps.sh installs from npm, else the
# unminified one in Debian's python3-plotly.
PLOTLY_JS_PATHS = ("/usr/local/share/power-interpreter/plotly.min.js",
                   "/usr/share/python3-plotly/plotly.js")

# The IPython display protocol, in the order Jupyter's formatters use.
_REPR_METHODS = (("text/html", "_repr_html_"), ("text/markdown", "_repr_markdown_"),
                 ("image/svg+xml", "_repr_svg_"), ("image/png", "_repr_png_"),
                 ("image/jpeg", "_repr_jpeg_"), ("text/latex", "_repr_latex_"),
                 ("application/json", "_repr_json_"))
_BINARY = ("image/png", "image/jpeg")


def png_size(data):
    """(width, height) from the IHDR chunk: 8-byte signature, then the chunk
    whose data starts with width and height as big-endian 32-bit integers."""
    return struct.unpack(">II", data[16:24])


def _png_chunk(tag, data):
    return (struct.pack(">I", len(data)) + tag + data
            + struct.pack(">I", zlib.crc32(tag + data)))


class _PngRows(io.RawIOBase):
    """A file for savefig(format="rgba") that deflates the pixels it is given
    as PNG rows (filter 0, zlib level PNG_ZLIB_LEVEL) straight from
    matplotlib's canvas buffer: no copy of the image is made (each MB of
    fresh memory is ~250 page faults in a kernel).  idat stays None unless
    the pixels came in one write of exactly width x height."""

    def __init__(self, width, height):
        super().__init__()
        self.row = width * 4
        self.size = self.row * height
        self.written = 0
        self.idat = None

    def write(self, data):
        view = memoryview(data).cast("B")
        self.written += view.nbytes
        self.idat = None
        if self.written == view.nbytes == self.size:
            deflate = zlib.compressobj(PNG_ZLIB_LEVEL)
            parts = []
            for at in range(0, self.size, self.row):
                parts.append(deflate.compress(b"\0"))
                parts.append(deflate.compress(view[at:at + self.row]))
            parts.append(deflate.flush())
            self.idat = b"".join(parts)
        return view.nbytes

    def writable(self):
        return True


def figure_png(fig):
    """fig as PNG bytes at FIGURE_DPI, the same pixels savefig(format="png")
    gives.  Matplotlib's PNG path hands the canvas to PIL, whose encoder
    (adaptive row filters, a copy of the image) cost ~12 ms of a ~25 ms
    savefig of a simple chart (measured); here the figure is rendered by
    the same savefig into raw RGBA and written as PNG directly (_PngRows):
    level 3 takes half the time of 6 on a chart (~2 ms less for 640x480)
    for ~20% larger files.
    When the raw size is not the figure's size at FIGURE_DPI (a
    savefig.bbox = "tight" rcParam, say), matplotlib's own PNG is used."""
    width = int(fig.get_figwidth() * FIGURE_DPI)
    height = int(fig.get_figheight() * FIGURE_DPI)
    rows = _PngRows(width, height) if width > 0 and height > 0 else None
    if rows is not None:
        fig.savefig(rows, format="rgba", dpi=FIGURE_DPI)
    if rows is None or rows.idat is None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=FIGURE_DPI)
        return buf.getvalue()
    per_metre = int(round(FIGURE_DPI / 0.0254))
    return (b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + _png_chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1))
            + _png_chunk(b"IDAT", rows.idat)
            + _png_chunk(b"IEND", b""))


def _text(value, limit):
    if len(value) > limit:
        return value[:limit] + "... [truncated, %d characters]" % len(value)
    return value


def _plain(obj):
    try:
        text = repr(obj)
    except Exception as exc:
        text = "<repr failed: %s: %s>" % (type(exc).__name__, exc)
    return _text(text, MAX_TEXT_CHARS)


def _is_plotly(obj):
    return type(obj).__module__.startswith("plotly.") and hasattr(obj, "to_dict") \
        and hasattr(obj, "to_plotly_json")


def _frame_bundle(obj):
    frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
    data = {"text/plain": obj.to_string(max_rows=TABLE_ROWS),
            "text/html": frame.to_html(max_rows=TABLE_ROWS, max_cols=TABLE_COLUMNS)}
    try:
        # tabulate's default "g" keeps 6 digits (288434.11 became 288434);
        # 15 keep a float's decimal digits without binary noise, as the
        # gateway's text does
        data["text/markdown"] = frame.iloc[:TABLE_ROWS, :TABLE_COLUMNS].to_markdown(
            floatfmt=".15g")
    except Exception:                   # tabulate missing or a cell it cannot print
        pass
    return data, {}


def _protocol_value(mime, value):
    """One _repr_*_ answer as a JSON-safe value, or None."""
    if value is None:
        return None
    if mime in _BINARY:
        if isinstance(value, str):
            return value
        return base64.b64encode(bytes(value)).decode("ascii")
    if mime == "application/json":
        return value
    return _text(str(value), MAX_HTML_CHARS)


def mime_bundle(obj):
    """(data, metadata) of obj by the display protocol; text/plain always."""
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return _frame_bundle(obj)
    data, metadata = {}, {}
    method = getattr(obj, "_repr_mimebundle_", None)
    if callable(method) and not isinstance(obj, type):
        try:
            answer = method(include=None, exclude=None)
            if isinstance(answer, tuple):
                answer, metadata = answer[0], dict(answer[1] or {})
            for mime, value in (answer or {}).items():
                value = _protocol_value(mime, value)
                if value is not None:
                    data[mime] = value
        except Exception:
            data, metadata = {}, {}
    for mime, name in _REPR_METHODS:
        method = getattr(obj, name, None)
        if mime in data or not callable(method) or isinstance(obj, type):
            continue
        try:
            value = method()
            if isinstance(value, tuple):
                value, metadata[mime] = value[0], value[1]
            value = _protocol_value(mime, value)
        except Exception:
            continue
        if value is not None:
            data[mime] = value
    if "image/png" in data and "image/png" not in metadata:
        try:
            width, height = png_size(base64.b64decode(data["image/png"][:64]))
            metadata["image/png"] = {"width": width, "height": height}
        except Exception:
            pass
    data.setdefault("text/plain", _plain(obj))
    return data, metadata


class Display:
    """The outputs of the cell that runs now, and the hooks that add to them:
    display() (a builtin), plt.show(), Figure.show() and plotly's show().
    One per kernel; start() at the beginning of every cell."""

    def __init__(self):
        self.start("/workspace", False)

    def start(self, workspace, keep_files):
        self.workspace = workspace
        self.keep_files = keep_files    # a session: figures also become files
        self.outputs = []
        self.figures = []
        self.shown = {}                 # id(figure) -> figure, emitted this cell
        self.used = 0
        self.dropped = 0
        self.stamp = None               # made when a first file is kept
        self.serial = 0

    # --- adding outputs

    def add(self, kind, data, metadata=None):
        size = sum(len(v) if isinstance(v, str) else len(json.dumps(v))
                   for v in data.values())
        if len(self.outputs) >= MAX_OUTPUTS or self.used + size > MAX_OUTPUTS_BYTES:
            self.dropped += 1
            return
        self.used += size
        self.outputs.append({"type": kind, "data": data, "metadata": metadata or {}})

    def show(self, obj, kind="display_data"):
        """Add obj as an output, by the form that suits it best."""
        if isinstance(obj, matplotlib.figure.Figure):
            self.figure(obj, kind)
        elif _is_plotly(obj):
            self.plotly(obj.to_dict(), kind)
        else:
            try:
                data, metadata = mime_bundle(obj)
            except Exception as exc:
                data, metadata = {"text/plain": "<display failed: %s: %s>"
                                  % (type(exc).__name__, exc)}, {}
            self.add(kind, data, metadata)

    def display(self, *objs, raw=False, metadata=None, **_ignored):
        """display(obj, ...): add each object as an output of the cell, with
        every form it has (text, HTML, Markdown, PNG, ...), like Jupyter's.
        raw=True: each obj is already a {mime type: value} dict."""
        for obj in objs:
            if raw and isinstance(obj, dict):
                self.add("display_data", {str(k): _protocol_value(str(k), v)
                                          for k, v in obj.items()}, metadata)
            else:
                self.show(obj)

    # --- files in a session workspace

    def _keep(self, ext, data):
        """Write data as figures/<kind>_<stamp>_<n>.<ext>; its workspace path."""
        folder = os.path.join(self.workspace, "figures")
        os.makedirs(folder, exist_ok=True)
        if self.stamp is None:
            self.stamp = time.strftime("%Y%m%d-%H%M%S")
        while True:
            self.serial += 1
            name = "%s_%s_%d.%s" % ("figure" if ext == "png" else "plotly",
                                    self.stamp, self.serial, ext)
            try:
                with open(os.path.join(folder, name), "xb") as f:
                    f.write(data)
                return "figures/" + name
            except FileExistsError:
                continue

    # --- matplotlib

    def figure(self, fig, kind="display_data"):
        """Add fig as a PNG output and to the figures list (a file too in a
        session); fig is not added again at the end of the cell."""
        self.shown[id(fig)] = fig
        try:
            data = figure_png(fig)
            width, height = png_size(data)
            path = self._keep("png", data) if self.keep_files else None
        except Exception as exc:
            self.figures.append({"path": None, "error": "%s: %s" % (type(exc).__name__, exc)})
            return
        encoded = base64.b64encode(data).decode("ascii")
        self.figures.append({"path": path, "size": len(data), "width": width,
                             "height": height, "png_base64": encoded})
        self.add(kind, {"image/png": encoded, "text/plain": "<Figure size %dx%d>"
                        % (width, height)},
                 {"image/png": {"width": width, "height": height}, "path": path})

    def plt_show(self, *args, **kwargs):
        """plt.show(): each open figure becomes an output now, then closes."""
        for number in plt.get_fignums():
            self.figure(plt.figure(number))
        plt.close("all")

    def finish(self):
        """End of the cell: open figures not shown yet become outputs; every
        figure closes.  Returns (outputs, figures)."""
        for number in plt.get_fignums():
            fig = plt.figure(number)
            if self.shown.get(id(fig)) is not fig:
                self.figure(fig)
        plt.close("all")
        if self.dropped:
            self.outputs.append({"type": "display_data", "metadata": {}, "data": {
                "text/plain": "[%d more outputs not shown: a cell keeps at most %d "
                "outputs and %d MB of them]" % (self.dropped, MAX_OUTPUTS,
                                                MAX_OUTPUTS_BYTES >> 20)}})
        return self.outputs, self.figures

    # --- plotly

    def plotly(self, fig_dict, kind="display_data"):
        """A plotly figure: its JSON as application/vnd.plotly.v1+json and, in
        a session, a self-contained HTML file (plotly.js inlined)."""
        traces = [t.get("type", "scatter") for t in fig_dict.get("data") or []]
        text = "plotly figure: %d trace(s) %s" % (len(traces), ", ".join(traces[:10]))
        import plotly.io
        data = {}
        body = plotly.io.to_json(fig_dict, validate=False)
        if len(body) <= MAX_PLOTLY_JSON_CHARS:
            data["application/vnd.plotly.v1+json"] = json.loads(body)
        else:
            text += " (its JSON, %d characters, is too large to return)" % len(body)
        path = None
        if self.keep_files:
            try:
                path = self._keep("html", plotly_html(fig_dict).encode("utf-8"))
                text += "; HTML file: " + path
            except OSError as exc:
                text += "; no HTML file: %s" % exc
        data["text/plain"] = text
        self.add(kind, data, {"path": path})


def plotly_html(fig_dict):
    """A standalone HTML page of the figure that needs no network."""
    script = None
    for candidate in PLOTLY_JS_PATHS:
        try:
            with open(candidate, encoding="utf-8") as f:
                script = f.read()
            break
        except OSError:
            continue
    if script is None:
        raise OSError("plotly.js is not installed (%s); run make deps" % PLOTLY_JS_PATHS[0])
    import plotly.io
    div = plotly.io.to_html(fig_dict, include_plotlyjs=False, full_html=False,
                       validate=False)
    return ("<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\">\n"
            "<script type=\"text/javascript\">window.PlotlyConfig = {MathJaxConfig: 'local'};"
            "</script>\n<script type=\"text/javascript\">%s</script>\n</head>\n"
            "<body>\n%s\n</body>\n</html>\n" % (script.replace("</script", "<\\/script"), div))


class _PlotlyHook(importlib.abc.MetaPathFinder):
    """Makes display the default renderer of plotly (fig.show(),
    plotly.io.show()) as soon as plotly loads its renderers.  plotly is not
    preloaded: its renderers bring ~500 modules and ~40 MB, which would
    make the zygote bigger and every fork slower."""

    MODULE = "plotly.io._renderers"

    def __init__(self, display):
        self.display = display

    def find_spec(self, name, path=None, target=None):
        if name != self.MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _AfterLoad(spec.loader, self.register)
        return spec

    def register(self, module):
        display = self.display
        renderer = type("PowerInterpreterRenderer", (module.ExternalRenderer,),
                        {"render": lambda self, fig_dict: display.plotly(fig_dict)})
        module.renderers["power_interpreter"] = renderer()
        module.renderers.default = "power_interpreter"


class _AfterLoad(importlib.abc.Loader):
    """A module's loader that calls then(module) once the module ran."""

    def __init__(self, loader, then):
        self.loader = loader
        self.then = then

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.then(module)


def install(display):
    """Route display(), plt.show(), Figure.show() and plotly's show() to
    display.  Called once, in the zygote: kernels inherit the hooks (doing
    it again in each kernel copied ~150 pages of the zygote per run,
    measured); a new namespace only needs its own display name."""
    import builtins
    builtins.display = display.display
    plt.show = display.plt_show
    matplotlib.figure.Figure.show = lambda fig, *a, **k: display.figure(fig)
    if not any(isinstance(f, _PlotlyHook) for f in sys.meta_path):
        hook = _PlotlyHook(display)
        if _PlotlyHook.MODULE in sys.modules:
            hook.register(sys.modules[_PlotlyHook.MODULE])
        sys.meta_path.insert(0, hook)


def warm_up():
    """In the zygote: load what a DataFrame's HTML and Markdown and a bundle
    need (pandas imports its HTML writer and tabulate on first use), so that
    kernels share it instead of paying for it.  Not plotly: see _PlotlyHook."""
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, None]})
    mime_bundle(frame)
    mime_bundle(1)
