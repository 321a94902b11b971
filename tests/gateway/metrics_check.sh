# tests/gateway/metrics_check.sh: helpers for checks of /metrics, sourced
# by http.sh and tenants.sh.
# metrics_wellformed < TEXT: every sample line is "name{labels} number" of a
# family announced by HELP and TYPE lines before it
metrics_wellformed() {
  python3 -c '
import re, sys
help_, type_ = set(), {}
for line in sys.stdin.read().splitlines():
    if line.startswith("# HELP "):
        help_.add(line.split()[2]); continue
    if line.startswith("# TYPE "):
        type_[line.split()[2]] = line.split()[3]; continue
    if not line or line.startswith("#"):
        continue
    # a label value may hold braces: a route such as /api/jobs/{id}/status
    m = re.fullmatch(r"""([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? (-?[0-9.e+]+|NaN|[+-]Inf)""", line)
    assert m, "bad line: " + line
    name = m.group(1)
    fam = next((f for f in type_ if name == f or (type_[f] == "histogram" and name in (f + "_bucket", f + "_sum", f + "_count"))), None)
    assert fam in help_, "no HELP/TYPE for " + name
'
}
# metric_value SERIES < TEXT: the value of one series, 0 when absent
metric_value() {
  python3 -c '
import sys
want = sys.argv[1]
for line in sys.stdin.read().splitlines():
    if line.startswith(want + " "):
        print(int(float(line.split()[-1]))); break
else:
    print(0)
' "$1"
}
