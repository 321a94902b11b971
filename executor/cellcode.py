"""How a cell's source becomes code: the statements to run and, apart, a
trailing expression whose value is the cell's result (as in a notebook).

Compiled into pi-executor beside the runner (pi_runner imports it as
pi_cellcode).  The cell's lines go into linecache so that tracebacks show
them; the file name of every code object is CELL, which is also how the
runner tells the user's frames from its own.
"""

import ast
import linecache
import re

CELL = "<cell>"


def compile_cell(code):
    """Compile a cell; split off a trailing expression to evaluate for the
    result.  Returns (the code objects to exec in turn, the expression's
    code or None)."""
    linecache.cache[CELL] = (len(code), None, code.splitlines(True), CELL)
    quick = _compile_without_tree(code)
    if quick is not None:
        return quick
    tree = ast.parse(code, CELL, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = compile(ast.Expression(tree.body.pop().value), CELL, "eval")
    return [compile(tree, CELL, "exec")], last


# The start of a line that is a statement and never an expression: a
# keyword that begins one, or an assignment to a (dotted, subscripted)
# name, augmented or annotated.
_STATEMENT_START = re.compile(
    r"(?:import|from|def|class|for|while|if|with|try|del|pass|assert|raise"
    r"|return|break|continue|async)\b"
    r"|[A-Za-z_][\w.]*\s*(?:\[[^\]\n]*\]\s*)?(?:[-+*/%&|^@]|//|>>|<<|\*\*)?=(?!=)"
    r"|[A-Za-z_][\w.]*\s*:(?!=)")


def _compile_without_tree(code):
    """compile_cell's split made from the source alone, or None when unsure.

    ast.parse makes a Python object for every node of the cell: in a fresh
    kernel that cost ~100 copy-on-write faults and ~0.3 ms a run
    (measured).  Here the cell is cut before its last line that starts at
    column 0 (not blank, not a comment); trailing blank and comment lines
    are dropped.  When the part before the cut compiles on its own, the
    cut is where the last top-level statement starts: the tail is that
    statement.  It is the trailing expression when it compiles as one;
    when it does not, but starts like a statement that is never an
    expression (_STATEMENT_START) and compiles as such, the cell has
    none.  Unsure, and left to the tree: a ";" in the tail, a carriage
    return or form feed anywhere (line ends and indentation the cut would
    misread), global or nonlocal (checked across the whole cell), a
    __future__ import (it applies to the whole cell), and anything that
    does not compile.  The tail is padded with newlines so that its line
    numbers stay the cell's."""
    if ("\r" in code or "\f" in code or "__future__" in code
            or "global" in code or "nonlocal" in code):
        return None
    lines = code.split("\n")
    end = len(lines)
    while end > 0 and lines[end - 1].lstrip(" \t")[:1] in ("", "#"):
        end -= 1
    at = end - 1
    while at >= 0 and lines[at][:1] in ("", " ", "\t", "#"):
        at -= 1
    if at < 0:
        return None
    tail = "\n".join(lines[at:end])
    if ";" in tail:
        return None
    padded = "\n" * at + tail
    try:
        head = [compile("\n".join(lines[:at]), CELL, "exec")] if at > 0 else []
    except (SyntaxError, ValueError):
        return None
    try:
        return head, compile(padded, CELL, "eval")
    except (SyntaxError, ValueError):
        pass
    if not _STATEMENT_START.match(tail):
        return None
    try:
        return head + [compile(padded, CELL, "exec")], None
    except (SyntaxError, ValueError):
        return None
