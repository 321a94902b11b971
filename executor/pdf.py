"""Text and tables out of PDF files, for sandboxed code: pi.pdf_text() and
pi.pdf_tables().

pdfplumber, the usual tool, is not packaged in Debian 12; pdfminer.six
(python3-pdfminer) is, and pdfplumber is itself built on it.  pdf_text() is
pdfminer's own text extraction; pdf_tables() reads the positioned characters
of pdfminer's layout analysis and finds tables as blocks of text lines that
split into the same columns:

  * characters are grouped into lines by their vertical centre, and a line
    is cut into cells where the space between two characters is wider than
    `gap` times the font size (a word space is about a quarter of it);
  * consecutive lines of two or more cells, no further apart than two line
    heights, form a block; the cells' horizontal extents, merged where they
    overlap or nearly touch, give the block's columns, and two neighbouring
    columns that no line has cells in both of are one (a centred header
    over right-aligned numbers);
  * a block of at least min_rows lines and min_cols columns is a table: a
    DataFrame whose header is its first line (when those cells are all
    present and distinct), with numeric columns converted.

This reads text tables as most reports print them (aligned columns, with or
without ruling lines).  It does not read scanned pages (no OCR) and cannot
tell apart two tables side by side on one line; a cell that wraps onto a
second line becomes a row of its own.  The module is compiled into
pi-executor beside the runner; pdfminer is imported on first use only, so
kernels that never read a PDF do not pay for it.
"""

import re

import pandas as pd

_NUMBER = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][-+]?\d+)?$")


def _check_path(path):
    if not isinstance(path, (str, bytes)) and not hasattr(path, "__fspath__"):
        raise TypeError("path must be the name of a PDF file, e.g. 'report.pdf'")


def _page_numbers(pages):
    """1-based page numbers (an int or an iterable) as pdfminer's 0-based set."""
    if pages is None:
        return None
    if isinstance(pages, int) and not isinstance(pages, bool):
        pages = [pages]
    try:
        numbers = [int(p) for p in pages]
    except (TypeError, ValueError):
        raise TypeError("pages must be a page number or a list of page numbers (1 is the first page)") from None
    if any(p < 1 for p in numbers):
        raise ValueError("page numbers start at 1")
    return {p - 1 for p in numbers}


def pdf_text(path, pages=None):
    """The text of a PDF file (pages: a 1-based page number or a list of them;
    default all), pages separated by form feeds, in reading order as
    pdfminer's layout analysis sees it."""
    from pdfminer.high_level import extract_text
    from pdfminer.layout import LAParams

    _check_path(path)
    return extract_text(path, page_numbers=_page_numbers(pages), laparams=LAParams())


def _chars(item):
    """Every upright, visible character of a layout item, recursively."""
    from pdfminer.layout import LTChar

    if isinstance(item, LTChar):
        if item.get_text().strip() and item.upright:
            yield item
        return
    try:
        children = iter(item)
    except TypeError:
        return
    for child in children:
        yield from _chars(child)


def _lines(chars):
    """Characters grouped into lines, top to bottom: (y centre, height, [chars])."""
    lines = []
    for c in sorted(chars, key=lambda c: -(c.y0 + c.y1) / 2):
        cy = (c.y0 + c.y1) / 2
        if lines and abs(lines[-1][0] - cy) <= 0.4 * max(c.height, lines[-1][1]):
            lines[-1][2].append(c)
        else:
            lines.append([cy, c.height, [c]])
    for line in lines:
        line[2].sort(key=lambda c: c.x0)
    return lines


def _cells(chars, gap):
    """A line's characters cut into cells: [(x0, x1, text)]."""
    cells = []
    start = 0
    text = chars[0].get_text()
    for i in range(1, len(chars)):
        prev, c = chars[i - 1], chars[i]
        space = c.x0 - prev.x1
        size = max(prev.size, c.size, 1.0)
        if space > gap * size:
            cells.append((chars[start].x0, prev.x1, text))
            start, text = i, c.get_text()
        else:
            text += (" " if space > 0.15 * size else "") + c.get_text()
    cells.append((chars[start].x0, chars[-1].x1, text))
    return cells


def _column_of(columns, x0, x1):
    """The column a cell belongs to: the one holding its centre, or the nearest."""
    centre = (x0 + x1) / 2
    return min(range(len(columns)),
               key=lambda j: 0 if columns[j][0] <= centre <= columns[j][1]
               else min(abs(centre - columns[j][0]), abs(centre - columns[j][1])))


def _columns(rows, gap):
    """The x extents of a block's columns: its cells' extents, merged where
    they overlap or nearly touch, then neighbours that no line uses both of
    (a centred header over right-aligned numbers) merged too."""
    spans = sorted((x0, x1, size) for cells, size in rows for x0, x1, _ in cells)
    columns = []
    for x0, x1, size in spans:
        if columns and x0 <= columns[-1][1] + gap * size:
            columns[-1][1] = max(columns[-1][1], x1)
        else:
            columns.append([x0, x1])
    merged = True
    while merged and len(columns) > 1:
        merged = False
        used = [{_column_of(columns, x0, x1) for x0, x1, _ in cells} for cells, _ in rows]
        for j in range(len(columns) - 1):
            if not any(j in u and j + 1 in u for u in used):
                columns[j:j + 2] = [[columns[j][0], max(columns[j][1], columns[j + 1][1])]]
                merged = True
                break
    return columns


def _number(text):
    text = text.replace(",", "")
    return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)


def _numeric(series):
    """A column of numbers as numbers (thousands separators allowed);
    any other column as it is.  Empty cells become NaN."""
    values = [v for v in series if v]
    if not values or not all(_NUMBER.match(v) and re.search(r"\d", v) for v in values):
        return series
    return series.map(lambda v: _number(v) if v else float("nan"))


def _frame(rows, columns, page):
    grid = []
    for cells, _ in rows:
        row = [""] * len(columns)
        for x0, x1, text in cells:
            k = _column_of(columns, x0, x1)
            row[k] = (row[k] + " " + text).strip()
        grid.append(row)
    header = grid[0]
    if all(header) and len(set(header)) == len(header):
        frame = pd.DataFrame(grid[1:], columns=header)
    else:
        frame = pd.DataFrame(grid)
    for name in frame.columns:
        frame[name] = _numeric(frame[name])
    frame.attrs["page"] = page
    return frame


def pdf_tables(path, pages=None, min_rows=2, min_cols=2, gap=1.0):
    """The tables of a PDF file as a list of pandas DataFrames, in page
    order; each frame's attrs["page"] is its 1-based page number.

    pages: a 1-based page number or a list of them (default all).
    min_rows, min_cols: the smallest block of aligned text taken as a table
    (its header line counts as a row).  gap: the space, in font sizes, that
    separates two cells of a line; raise it if words of one cell come out
    in separate columns, lower it if neighbouring cells are merged.
    """
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams

    _check_path(path)
    if not isinstance(gap, (int, float)) or gap <= 0:
        raise ValueError("gap must be a positive number (font sizes between two cells)")
    tables = []
    numbers = _page_numbers(pages)
    for index, page in enumerate(extract_pages(path, page_numbers=numbers, laparams=LAParams())):
        page_no = sorted(numbers)[index] + 1 if numbers is not None else index + 1
        block = []
        last = None

        def flush():
            if len(block) >= min_rows:
                columns = _columns(block, gap)
                if len(columns) >= min_cols:
                    tables.append(_frame(block, columns, page_no))
            block.clear()

        for cy, height, chars in _lines(list(_chars(page))):
            cells = _cells(chars, gap)
            size = max(c.size for c in chars)
            if len(cells) < 2 or (last is not None and last - cy > 2.0 * max(height, size)):
                flush()
            if len(cells) >= 2:
                block.append((cells, size))
            last = cy
        flush()
    return tables
