# tests/datasets/formats.sh: pi.load_dataset with xlsx and JSON Lines files,
# sourced by run.sh (its cluster, session $SID, workspace $WS, check).
# The files are made with the host's openpyxl; a formula's cached value is
# planted in the sheet XML, since openpyxl writes formulas without one.

# load_ds PATH NAME [FORMAT] [SHEET]: pi.load_dataset, submit and wait
load_ds() {
  local st= sheet=NULL
  [ -n "${4:-}" ] && sheet="'$4'"
  LAST_JOB=$(pi_sql "SELECT pi.load_dataset('$1', '$2', '$SID', '{}', '${3:-auto}', $sheet)") ||
    { LAST_STATUS=error; return 1; }
  for _ in $(seq 1 600); do
    st=$(pi_sql "SELECT status FROM pi.jobs WHERE id = '$LAST_JOB'")
    case "$st" in pending|running) sleep 0.1 ;; *) break ;; esac
  done
  LAST_STATUS=$st
}
types_of() {
  pi_sql "SELECT string_agg((c->>'name') || ':' || (c->>'type'), ',' ORDER BY o)
          FROM pi.datasets, jsonb_array_elements(columns) WITH ORDINALITY AS t(c, o) WHERE name = '$1'"
}
error_of() { pi_sql "SELECT pi.job_result('$LAST_JOB')->'error'->>'message'"; }
no_leftovers() {
  [ "$(as_pg find "$WS" -maxdepth 1 -name '.pi_load_*' | wc -l)" = 0 ]
}

echo "# xlsx: dates as serials and datetimes, numbers stored as text, merged and empty headers"
as_pg /usr/bin/python3 - "$WS" <<'PY'
import datetime, os, re, sys, zipfile
import openpyxl
ws_dir = sys.argv[1]
wb = openpyxl.Workbook()
ws = wb.active
ws.title = "Sales"
ws.append(["Region", "Quarter", None, "Zip", "Day", "At", "Amount", None, "Total"])
ws.merge_cells("B1:C1")
ws.append(["north", 1, 2, "02134", datetime.datetime(2024, 1, 5), datetime.datetime(2024, 1, 5, 10, 30), 1.5, 7, None])
ws.append([None] * 9)
ws.append(["south", 3, 4, "12345", 45292, datetime.datetime(2024, 1, 6, 12, 0), 2, 8, None])
ws["E4"].number_format = "yyyy-mm-dd"      # an Excel serial shown as a date
ws["I2"] = "=G2*2"
ws["I4"] = "=G4*2"
for r in range(5, 40):                       # formatted, empty rows at the end
    ws.cell(row=r, column=1).number_format = "0.00"
other = wb.create_sheet("Other")
other.append(["k", "v"])
other.append(["a", 1])
other.append(["b", 2])
path = os.path.join(ws_dir, "book.xlsx")
wb.save(path)
# plant cached values for the formulas, as Excel saves them
src = zipfile.ZipFile(path)
items = [(i, src.read(i.filename)) for i in src.infolist()]
src.close()
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
    for info, data in items:
        if info.filename == "xl/worksheets/sheet1.xml":
            text = data.decode()
            for cell, value in (("G2", 3), ("G4", 4)):
                text = re.sub(r"<f>%s\*2</f>(<v\s*/>|<v></v>)?" % cell,
                              "<f>%s*2</f><v>%d</v>" % (cell, value), text)
            data = text.encode()
        out.writestr(info, data)
with open(os.path.join(ws_dir, "old.xls"), "wb") as f:
    f.write(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
with open(os.path.join(ws_dir, "broken.xlsx"), "wb") as f:
    f.write(b"PK\x03\x04" + b"garbage" * 20)
PY
load_ds book.xlsx book
check "xlsx, first sheet: completed" "[ \"$LAST_STATUS\" = completed ]"
check "xlsx types: serial and datetime dates, zip as text, merged header named, empty header named" \
  "[ \"\$(types_of book)\" = 'region:text,quarter:integer,quarter_2:integer,zip:text,day:date,at:timestamp,amount:numeric,column_8:integer,total:integer' ]"
check "xlsx rows: the empty row inside and the empty rows at the end are left out" \
  "[ \"\$(pi_sql 'SELECT count(*) FROM pi_data.book')\" = 2 ]"
check "xlsx values: the serial is 2024-01-01, formulas give their cached values" \
  "[ \"\$(pi_sql \"SELECT string_agg(day || '/' || total, ',' ORDER BY region) FROM pi_data.book\")\" = '2024-01-05/3,2024-01-01/4' ]"
check "xlsx result: format and sheet" \
  "[ \"\$(pi_sql \"SELECT r->>'format' || '/' || (r->>'sheet') FROM pi.job_result('$LAST_JOB') r\")\" = xlsx/Sales ]"
check "xlsx: the intermediate CSV is gone" no_leftovers
load_ds book.xlsx book_other auto Other
check "xlsx, a second sheet by name" \
  "[ \"$LAST_STATUS\" = completed ] && [ \"\$(types_of book_other)\" = 'k:text,v:integer' ]"
load_ds book.xlsx book_none auto Missing
check "xlsx, a sheet that does not exist: the error lists the sheets" \
  "[ \"$LAST_STATUS\" = failed ] && error_of | grep -q \"'Sales', 'Other'\""
load_ds broken.xlsx broken
check "a broken xlsx fails with a clear error and leaves nothing" \
  "[ \"$LAST_STATUS\" = failed ] && error_of | grep -q 'not a readable .xlsx workbook' && no_leftovers &&
   [ \"\$(pi_sql \"SELECT count(*) FROM pi.datasets WHERE name = 'broken'\")\" = 0 ]"
check "a legacy .xls is refused at the call" \
  "{ pi_sql \"SELECT pi.load_dataset('old.xls', 'old', '$SID')\" 2>&1 || true; } | grep -q 'legacy Excel .xls'"
check "CSV options are refused for a workbook" \
  "{ pi_sql \"SELECT pi.load_dataset('book.xlsx', 'b', '$SID', '{\\\"delimiter\\\": \\\";\\\"}')\" 2>&1 || true; } | grep -q 'does not apply'"

echo "# JSON Lines: missing keys, mixed types in one key, nested values"
as_pg /usr/bin/python3 - "$WS" <<'PY'
import json, os, sys
d = sys.argv[1]
rows = [{"id": 1, "name": "a", "mixed": 1, "tags": ["x", "y"], "when": "2024-01-01", "code": "0042"},
        {"id": 2, "mixed": "two", "meta": {"k": 1}, "when": "2024-01-02", "code": "17"},
        {"id": 3, "name": None, "mixed": True, "tags": [], "ok": False}]
with open(os.path.join(d, "events.jsonl"), "w") as f:
    f.write(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n" + json.dumps(rows[2]) + "\n")
with open(os.path.join(d, "bad.jsonl"), "w") as f:
    f.write('{"a": 1}\n{"a": 2}\n{"a": 3,}\n')
with open(os.path.join(d, "array_line.jsonl"), "w") as f:
    f.write('{"a": 1}\n[1, 2]\n')
with open(os.path.join(d, "typed.jsonl"), "w") as f:
    f.write('{"a": 1, "b": 1}\n{"a": 2, "b": 2}\n{"a": 3, "b": "x"}\n')
PY
load_ds events.jsonl events
check "jsonl: completed" "[ \"$LAST_STATUS\" = completed ]"
check "jsonl types: key order of first sight, mixed -> text, nested -> jsonb, number strings stay text" \
  "[ \"\$(types_of events)\" = 'id:integer,name:text,mixed:text,tags:jsonb,when:date,code:text,meta:jsonb,ok:boolean' ]"
check "jsonl values: missing keys are NULL, nested values queryable as jsonb" \
  "[ \"\$(pi_sql \"SELECT string_agg(coalesce(name, '-') || '|' || coalesce(meta->>'k', '-') || '|' || coalesce(jsonb_array_length(tags)::text, '-'), ',' ORDER BY id) FROM pi_data.events\")\" = 'a|-|2,-|1|-,-|-|0' ]"
load_ds bad.jsonl bad_json
check "jsonl, bad JSON: the error names line 3" \
  "[ \"$LAST_STATUS\" = failed ] && error_of | grep -q '^line 3: not valid JSON' && no_leftovers"
load_ds array_line.jsonl array_line
check "jsonl, a line that is not an object: the error names line 2" \
  "[ \"$LAST_STATUS\" = failed ] && error_of | grep -q '^line 2: a JSON array'"
LAST_JOB=$(pi_sql "SELECT pi.load_dataset('typed.jsonl', 'typed', '$SID', '{\"types\": {\"b\": \"integer\"}}')")
wait_sql 60 "SELECT status FROM pi.jobs WHERE id = '$LAST_JOB'" failed
check "jsonl, a value that does not fit a forced type: the error names the file's line 3" \
  "error_of | grep -q '^line 3: value \"x\"'"

echo "# a cancelled or crashed conversion leaves nothing behind"
as_pg /usr/bin/python3 - "$WS" <<'PY'
import json, os, sys
with open(os.path.join(sys.argv[1], "big.jsonl"), "w") as f:
    for i in range(1500000):
        f.write(json.dumps({"id": i, "v": i * 0.5, "t": "text %d" % i, "n": {"i": i}}) + "\n")
PY
LAST_JOB=$(pi_sql "SELECT pi.load_dataset('big.jsonl', 'big_jsonl', '$SID')")
wait_sql 20 "SELECT status FROM pi.jobs WHERE id = '$LAST_JOB'" running
sleep 1
pi_sql "SELECT pi.cancel_job('$LAST_JOB')" >/dev/null
check "a cancelled conversion ends cancelled" wait_sql 30 "SELECT status FROM pi.jobs WHERE id = '$LAST_JOB'" cancelled
check "a cancelled conversion leaves no table, no dataset, no intermediate file" \
  "no_leftovers && [ \"\$(pi_sql \"SELECT count(*) FROM pg_tables WHERE tablename = 'big_jsonl'\")\$(pi_sql \"SELECT count(*) FROM pi.datasets WHERE name = 'big_jsonl'\")\" = 00 ]"
LAST_JOB=$(pi_sql "SELECT pi.load_dataset('big.jsonl', 'big_jsonl', '$SID')")
wait_sql 20 "SELECT status FROM pi.jobs WHERE id = '$LAST_JOB'" running
one_leftover() { [ "$(as_pg find "$WS" -maxdepth 1 -name '.pi_load_*' | wc -l)" = 1 ]; }
wait_until 20 one_leftover
for k in $(pi_kernel_pids); do as_pg kill -9 "$k" 2>/dev/null || kill -9 "$k" 2>/dev/null; done
check "a conversion whose kernel is killed fails" \
  "wait_sql 60 \"SELECT status FROM pi.jobs WHERE id = '$LAST_JOB'\" failed"
check "a crashed conversion leaves no table, no dataset, no intermediate file" \
  "no_leftovers && [ \"\$(pi_sql \"SELECT count(*) FROM pi.datasets WHERE name = 'big_jsonl'\")\" = 0 ]"
load_ds big.jsonl big_jsonl
check "the same large file then loads" \
  "[ \"$LAST_STATUS\" = completed ] && [ \"\$(pi_sql 'SELECT count(*) FROM pi_data.big_jsonl')\" = 1500000 ] && no_leftovers"
