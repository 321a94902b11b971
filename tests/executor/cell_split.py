# A cell that tests/executor/run.sh runs (check cell_split_same_as_tree):
# cellcode.compile_cell, which splits off the last expression from the source
# when it can, against the syntax tree's split, on hand-picked and random
# cells.  Its value: [cells that differ, of the first 20 how many took the
# quick path, the first few that differ].
import ast, random, sys
cellcode = sys.modules["pi_cellcode"]
def by_tree(code):
    tree = ast.parse(code, "<cell>", "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = compile(ast.Expression(tree.body.pop().value), "<cell>", "eval")
    return [compile(tree, "<cell>", "exec")], last
def outcome(split, code):
    try:
        body, last = split(code)
    except Exception as exc:
        return ("compile", type(exc).__name__)
    out = []
    names = {"__builtins__": __builtins__, "print": lambda *a: out.append(a)}
    try:
        for part in body:
            exec(part, names)
        value = eval(last, names) if last is not None else None
        shown = "function" if callable(value) else repr(value)
        return ("ok", shown, out, sorted(k for k in names if k != "__builtins__"))
    except Exception as exc:
        tb = exc.__traceback__
        while tb.tb_next:
            tb = tb.tb_next
        return ("error", type(exc).__name__, tb.tb_lineno, out)
Q = "'" * 3
cells = ["print(1)", "x = 5", "x = 5\nx", "x = 1; x", "1\n# c\n\n  ", "def f():\n    return 2\nf()",
         "for i in range(3):\n    i", "if 1:\n    2\nelse:\n    3", "s = " + Q + "\nx\n" + Q + "\ns",
         "s = " + Q + "\ny\n" + Q, "y = 3\n(y\n  + 1)", "a = 1 + \\\n2\na", "x: int = 3\nx",
         "x = 1\n\x0cx", "x = 1\r\nx", "*[1], 2", "try:\n    1/0\nexcept ZeroDivisionError:\n    7",
         "y = 2\n\n\nz = y\nz / 0", "x = 1\nglobal x", "a\0b"]
frags = ["x = 1", "x", "x + 1", "print(x)", "    x", "    pass", "for i in range(2):", "if x:", "else:",
         "def f():", "    return x", "f()", "(x", "  + 2)", Q, "s = " + Q, "# c", "", "x; x", "y = x \\",
         "1", "'a;b'", "[x,", "x]", "@f", "try:", "except Exception:", "    1/0", "1/0", "global x",
         "*a, b = 1, 2, 3", "*[x], x", "a, b = 1, 2", "d = {}", "d[0] = 1", "d[0]", "x += 1", "x == 1",
         "(z := 3)", "match x:", "    case 1:", "        x", "if x: x", "x: int = 2", "lambda x: x"]
rng = random.Random(11)
cells += ["\n".join(rng.choice(frags) for _ in range(rng.randint(1, 6))) for _ in range(3000)]
differ = [c for c in cells if outcome(cellcode.compile_cell, c) != outcome(by_tree, c)]
quick = sum(cellcode._compile_without_tree(c) is not None for c in cells[:20])
[len(differ), quick, differ[:3]]
