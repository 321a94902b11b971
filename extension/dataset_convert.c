/*-------------------------------------------------------------------------
 *
 * dataset_convert.c
 *	  pi.load_dataset's formats besides CSV: which format a file is (by its
 *	  name and first bytes), and its conversion to a CSV in the workspace,
 *	  which the typed CSV load (datasets.c) then reads.
 *
 * An .xlsx file or a JSON Lines file is user data, so it is never parsed in
 * a server process: the conversion is a Python run through the executor
 * (executor_client.c), in a fresh sandboxed kernel (not the session's: the
 * session's variables are neither touched nor waited for) that sees the
 * session workspace.  openpyxl reads the workbook streaming
 * (read_only=True) with the cached values of formulas (data_only=True).
 * The run prints one JSON line saying how CSV lines map back to sheet rows
 * or file lines and which columns keep a type the CSV text cannot carry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "dataset_convert.h"
#include "executor_client.h"
#include "guc.h"
#include "jsonb_util.h"

/* zip's local file header: every .xlsx file starts with it */
static const char ZIP_MAGIC[] = "PK\003\004";
/* the OLE2 compound file of a legacy .xls */
static const char OLE2_MAGIC[] = "\320\317\021\340";

/*
 * The converter, run in the sandbox with _PI_ARGS set (source, target,
 * format, sheet).  A LoadError's message is the job's error as it is, so
 * each names the sheet and row or the line.  Empty rows inside a sheet and
 * blank lines of JSON Lines become blank CSV lines (which the CSV load
 * skips), so that CSV line numbers map back to rows by a fixed offset.
 */
static const char converter_py[] =
"class LoadError(Exception):\n"
"    \"\"\"A file pi.load_dataset cannot load; the message names the row.\"\"\"\n"
"\n"
"\n"
"def _pi_convert(args):\n"
"    import csv, datetime, json, math, re, zipfile\n"
"\n"
"    source, target, fmt = args[\"source\"], args[\"target\"], args[\"format\"]\n"
"    number = re.compile(r\"\\s*[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?\\s*\\Z\")\n"
"\n"
"    def scalar(v):\n"
"        if v is None:\n"
"            return \"\"\n"
"        if isinstance(v, bool):\n"
"            return \"true\" if v else \"false\"\n"
"        if isinstance(v, float):\n"
"            return \"NaN\" if math.isnan(v) else repr(v)\n"
"        if isinstance(v, datetime.datetime):\n"
"            if v.tzinfo is None and v.time() == datetime.time(0):\n"
"                return v.date().isoformat()\n"
"            return v.isoformat(sep=\" \")\n"
"        if isinstance(v, (datetime.date, datetime.time)):\n"
"            return v.isoformat()\n"
"        return str(v)\n"
"\n"
"    def progress(fraction):\n"
"        try:\n"
"            import pi\n"
"            pi.progress(fraction, None)\n"
"        except Exception:\n"
"            pass\n"
"\n"
"    def xlsx():\n"
"        import openpyxl\n"
"        try:\n"
"            wb = openpyxl.load_workbook(source, read_only=True, data_only=True)\n"
"        except Exception as e:\n"
"            raise LoadError(\"%s is not a readable .xlsx workbook: %s\" % (source, e)) from None\n"
"        names = wb.sheetnames\n"
"        if args.get(\"sheet\") is None:\n"
"            if not wb.worksheets:\n"
"                raise LoadError(\"%s has no worksheet\" % source)\n"
"            ws = wb.worksheets[0]\n"
"        elif args[\"sheet\"] in names:\n"
"            ws = wb[args[\"sheet\"]]\n"
"        else:\n"
"            raise LoadError(\"%s has no sheet named %r; its sheets are %s\"\n"
"                            % (source, args[\"sheet\"], \", \".join(repr(n) for n in names)))\n"
"        if not hasattr(ws, \"iter_rows\"):\n"
"            raise LoadError(\"sheet %r of %s is a chart, not a worksheet\" % (ws.title, source))\n"
"        title = ws.title\n"
"        errors = {\"#NULL!\", \"#DIV/0!\", \"#VALUE!\", \"#REF!\", \"#NAME?\", \"#NUM!\", \"#N/A\",\n"
"                  \"#GETTING_DATA\", \"#SPILL!\", \"#CALC!\"}\n"
"\n"
"        def rows():\n"
"            ws.reset_dimensions()\n"
"            r = 0\n"
"            try:\n"
"                for r, row in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):\n"
"                    yield r, [None if isinstance(v, str) and v in errors else v for v in row]\n"
"            except Exception as e:\n"
"                raise LoadError(\"sheet %r, row %d: the cell data cannot be read: %s\"\n"
"                                % (title, r + 1, e)) from None\n"
"\n"
"        # pass 1: the extent of the data (trailing empty rows and columns go)\n"
"        first = last = width = 0\n"
"        for r, row in rows():\n"
"            used = [i for i, v in enumerate(row) if v is not None and v != \"\"]\n"
"            if used:\n"
"                first = first or r\n"
"                last = r\n"
"                width = max(width, used[-1] + 1)\n"
"        if width == 0:\n"
"            raise LoadError(\"sheet %r of %s holds no data\" % (title, source))\n"
"\n"
"        # merged header cells repeat their text (read-only sheets do not list merges)\n"
"        merged = {}\n"
"        try:\n"
"            import xml.etree.ElementTree as ET\n"
"            with zipfile.ZipFile(source) as z, z.open(ws._worksheet_path) as f:\n"
"                for _, el in ET.iterparse(f):\n"
"                    if el.tag.endswith(\"}mergeCell\"):\n"
"                        a, _, b = el.get(\"ref\", \"\").partition(\":\")\n"
"                        (c1, r1), (c2, r2) = (openpyxl.utils.cell.coordinate_from_string(x) for x in (a, b))\n"
"                        if r1 <= first <= r2:\n"
"                            c1 = openpyxl.utils.cell.column_index_from_string(c1) - 1\n"
"                            c2 = openpyxl.utils.cell.column_index_from_string(c2) - 1\n"
"                            for c in range(c1 + 1, c2 + 1):\n"
"                                merged[c] = c1\n"
"                    el.clear()\n"
"        except Exception:\n"
"            merged = {}\n"
"\n"
"        text_columns = set()\n"
"        with open(target, \"w\", newline=\"\", encoding=\"utf-8\") as out:\n"
"            w = csv.writer(out, lineterminator=\"\\n\")\n"
"            for r, row in rows():\n"
"                if r < first:\n"
"                    continue\n"
"                if r > last:\n"
"                    break\n"
"                row = (list(row) + [None] * width)[:width]\n"
"                if r == first:\n"
"                    for c, c1 in merged.items():\n"
"                        if c < width and row[c] is None:\n"
"                            row[c] = row[c1]\n"
"                elif width > 1 and all(v is None or v == \"\" for v in row):\n"
"                    out.write(\"\\n\")     # kept, so line numbers stay row numbers\n"
"                    continue\n"
"                else:\n"
"                    for i, v in enumerate(row):\n"
"                        if isinstance(v, str) and number.match(v):\n"
"                            text_columns.add(i)    # a number stored as text stays text\n"
"                w.writerow([scalar(v) for v in row])\n"
"                if r % 10000 == 0:\n"
"                    progress(0.9 * r / max(last, 1))\n"
"        return {\"sheet\": title, \"sheets\": names, \"row_offset\": first - 1,\n"
"                \"where\": \"sheet %s, row\" % json.dumps(title),\n"
"                \"text_columns\": sorted(text_columns), \"json_columns\": []}\n"
"\n"
"    def jsonl():\n"
"        def objects():\n"
"            with open(source, \"rb\") as f:\n"
"                for n, line in enumerate(f, start=1):\n"
"                    try:\n"
"                        text = line.decode(\"utf-8-sig\" if n == 1 else \"utf-8\")\n"
"                    except UnicodeDecodeError as e:\n"
"                        raise LoadError(\"line %d: invalid UTF-8 (%s)\" % (n, e.reason)) from None\n"
"                    if not text.strip():\n"
"                        yield n, None\n"
"                        continue\n"
"                    try:\n"
"                        obj = json.loads(text)\n"
"                    except ValueError as e:\n"
"                        raise LoadError(\"line %d: not valid JSON: %s\" % (n, e)) from None\n"
"                    if not isinstance(obj, dict):\n"
"                        raise LoadError(\"line %d: a JSON %s where JSON Lines needs an object ({...})\"\n"
"                                        % (n, type(obj).__name__.replace(\"dict\", \"object\")\n"
"                                           .replace(\"list\", \"array\").replace(\"str\", \"string\")))\n"
"                    yield n, obj\n"
"\n"
"        keys = {}\n"
"        nested, text_columns = set(), set()\n"
"        count = 0\n"
"        for n, obj in objects():\n"
"            if obj is None:\n"
"                continue\n"
"            count += 1\n"
"            for k, v in obj.items():\n"
"                i = keys.setdefault(k, len(keys))\n"
"                if isinstance(v, (dict, list)):\n"
"                    nested.add(i)\n"
"                elif isinstance(v, str) and number.match(v):\n"
"                    text_columns.add(i)\n"
"        if count == 0:\n"
"            raise LoadError(\"%s holds no JSON object\" % source)\n"
"        order = list(keys)\n"
"        with open(target, \"w\", newline=\"\", encoding=\"utf-8\") as out:\n"
"            w = csv.writer(out, lineterminator=\"\\n\")\n"
"            w.writerow(order)\n"
"            for n, obj in objects():\n"
"                if obj is None:\n"
"                    if len(order) > 1:\n"
"                        out.write(\"\\n\")\n"
"                    continue\n"
"                w.writerow([(json.dumps(obj[k], ensure_ascii=False) if keys[k] in nested\n"
"                             else scalar(obj[k])) if obj.get(k) is not None else \"\"\n"
"                            for k in order])\n"
"                if n % 10000 == 0:\n"
"                    progress(0.9 * n / count)\n"
"        return {\"row_offset\": -1, \"where\": \"line\",\n"
"                \"text_columns\": sorted(text_columns - nested), \"json_columns\": sorted(nested)}\n"
"\n"
"    meta = xlsx() if fmt == \"xlsx\" else jsonl()\n"
"    print(json.dumps(meta))\n"
"\n"
"\n"
"_pi_convert(_PI_ARGS)\n";

static bool
has_suffix(const char *path, const char *suffix)
{
	size_t		n = strlen(path),
				m = strlen(suffix);

	return n >= m && pg_strcasecmp(path + n - m, suffix) == 0;
}

/*
 * The format of the file open on fd: requested ("csv", "xlsx", "jsonl"),
 * checked against the file's first bytes, or for "auto" (or NULL) told by
 * its name and first bytes.
 */
const char *
dataset_format_detect(const char *path, int fd, const char *requested)
{
	unsigned char head[64];
	ssize_t		n = pread(fd, head, sizeof(head), 0);
	bool		zip;
	int			i = 0;
	const char *format;

	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read \"%s\": %m", path)));
	zip = n >= 4 && memcmp(head, ZIP_MAGIC, 4) == 0;
	if (n >= 4 && memcmp(head, OLE2_MAGIC, 4) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("\"%s\" is a legacy Excel .xls workbook", path),
				 errhint("Save it as .xlsx (Excel Workbook) or as CSV and load that.")));
	/* past a UTF-8 BOM and white space, JSON Lines starts with an object */
	if (n >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF)
		i = 3;
	while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n'))
		i++;

	if (requested == NULL || strcmp(requested, "auto") == 0)
	{
		if (zip || has_suffix(path, ".xlsx") || has_suffix(path, ".xlsm"))
			format = "xlsx";
		else if (has_suffix(path, ".jsonl") || has_suffix(path, ".ndjson") ||
				 has_suffix(path, ".json") || (i < n && head[i] == '{'))
			format = "jsonl";
		else
			format = "csv";
	}
	else if (strcmp(requested, "csv") == 0 || strcmp(requested, "xlsx") == 0 ||
			 strcmp(requested, "jsonl") == 0)
		format = requested;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown format \"%s\"", requested),
				 errhint("Use 'auto' (by the file's name and first bytes), 'csv', 'xlsx' or 'jsonl'.")));

	if (strcmp(format, "xlsx") == 0 && !zip)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("\"%s\" is not an .xlsx workbook: it does not start like a zip file", path),
				 errhint("Upload the workbook as saved by Excel (.xlsx), or pass the file's real format.")));
	if (strcmp(format, "jsonl") == 0 && i < n && head[i] == '[')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("\"%s\" holds a JSON array, not JSON Lines", path),
				 errhint("Write one JSON object per line (JSON Lines), e.g. with pandas: df.to_json(path, orient='records', lines=True).")));
	if (strcmp(format, "jsonl") == 0 && i < n && head[i] != '{')
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("\"%s\" is not JSON Lines: line 1 does not start with an object", path),
				 errhint("Each line must hold one JSON object ({...}); pass format => 'csv' if it is a CSV file.")));
	return format;
}

/* ---- the conversion run -------------------------------------------------- */

typedef struct ConvertProgress
{
	CsvProgressFn progress;
	void	   *arg;
	int64		total;
	int64		done;
} ConvertProgress;

static JsonbValue *
member(Jsonb *jb, const char *key)
{
	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return NULL;
	return getKeyJsonValueFromContainer(&jb->root, key, strlen(key), NULL);
}

static double
member_number(Jsonb *jb, const char *key, double dflt)
{
	JsonbValue *v = member(jb, key);

	if (v == NULL || v->type != jbvNumeric)
		return dflt;
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

/* The conversion's pi.progress reports: the first half of the load's bar */
static void
on_convert_progress(const char *progress_json, void *arg)
{
	ConvertProgress *p = (ConvertProgress *) arg;
	double		f = member_number(pi_jsonb_parse(progress_json), "progress", 0);

	p->done = (int64) (Min(Max(f, 0), 1) * p->total);
	p->progress(p->done, p->total, p->arg);
}

/* A tick renews the job's lease, and a cancel throws out of the wait */
static void
on_convert_tick(void *arg)
{
	ConvertProgress *p = (ConvertProgress *) arg;

	p->progress(p->done, p->total, p->arg);
}

static List *
member_indexes(Jsonb *jb, const char *key)
{
	JsonbValue *v = member(jb, key);
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	List	   *out = NIL;

	if (v == NULL || v->type != jbvBinary)
		return NIL;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		if (tok == WJB_ELEM && elem.type == jbvNumeric)
			out = lappend_int(out, DatumGetInt32(DirectFunctionCall1(numeric_int4,
																	  NumericGetDatum(elem.val.numeric))));
	return out;
}

/* Turn the run's failure into the load's error. */
static void
conversion_failed(const char *source, const char *status, Jsonb *result)
{
	JsonbValue *err = member(result, "error");
	Jsonb	   *e = (err && err->type == jbvBinary) ? JsonbValueToJsonb(err) : NULL;
	char	   *type = e ? pi_jsonb_string(e, "type") : NULL;
	char	   *message = e ? pi_jsonb_string(e, "message") : NULL;

	if (type && strcmp(type, "LoadError") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("%s", message),
				 errhint("Fix the file (or pick another sheet) and load it again.")));
	if (strcmp(status, "cancelled") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("the load was cancelled")));
	if (strcmp(status, "busy") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not convert \"%s\": %s", source, message ? message : "the Python executor is busy"),
				 errhint("Load it again when fewer jobs run.")));
	ereport(ERROR,
			(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
			 errmsg("converting \"%s\" for the load failed (%s): %s", source,
					type ? type : status, message ? message : "no message"),
			 errhint("A workbook too large for pi.max_memory_mb or pi.job_timeout loads as CSV: save the sheet as CSV and load that.")));
}

/*
 * Convert source (xlsx or jsonl) into the CSV target, both relative to the
 * workspace, in a sandboxed run; fill conv from what the run reports.
 * Errors (a bad file names its row) are thrown; the caller removes target.
 */
void
dataset_convert(const char *job_id, const char *workspace, const char *owner,
				const char *source, const char *format, const char *sheet,
				const char *target, int64 file_bytes,
				CsvProgressFn progress, void *progress_arg,
				DatasetConversion *conv)
{
	StringInfoData args;
	StringInfoData code;
	PiRunRequest req = {0};
	PiRunCallbacks callbacks = {0};
	ConvertProgress state = {progress, progress_arg, Max(file_bytes, 1), 0};
	char	   *result_json = NULL;
	Jsonb	   *result;
	Jsonb	   *meta;
	char	   *status;
	char	   *out;
	char	   *last;

	initStringInfo(&args);
	appendStringInfoString(&args, "{\"source\": ");
	escape_json(&args, source);
	appendStringInfoString(&args, ", \"target\": ");
	escape_json(&args, target);
	appendStringInfoString(&args, ", \"format\": ");
	escape_json(&args, format);
	appendStringInfoString(&args, ", \"sheet\": ");
	if (sheet)
		escape_json(&args, sheet);
	else
		appendStringInfoString(&args, "null");
	appendStringInfoChar(&args, '}');

	/* a JSON string literal is a Python string literal too */
	initStringInfo(&code);
	appendStringInfoString(&code, "import json\n_PI_ARGS = json.loads(");
	escape_json(&code, args.data);
	appendStringInfo(&code, ")\n%s", converter_py);

	req.kind = "async";
	req.code = code.data;
	req.timeout_s = pi_job_timeout;
	req.workspace = workspace;
	req.session_id = NULL;		/* a fresh kernel, not the session's */
	req.job_id = job_id;
	req.owner = owner;
	callbacks.on_progress = on_convert_progress;
	callbacks.on_tick = on_convert_tick;
	callbacks.tick_ms = 1000;
	callbacks.arg = &state;

	if (pi_run_code(&req, &callbacks, &result_json) != PI_RUN_RESULT)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("the Python executor stopped while converting \"%s\"", source),
				 errhint("Load the file again; see the server log if it happens again.")));
	result = pi_jsonb_parse(result_json);
	status = pi_jsonb_string(result, "status");
	if (status == NULL || strcmp(status, "completed") != 0)
		conversion_failed(source, status ? status : "failed", result);

	/* the report is the last line the converter printed */
	out = pi_jsonb_string(result, "stdout");
	if (out == NULL || out[0] == '\0')
		elog(ERROR, "pi.load_dataset: the conversion of \"%s\" reported nothing", source);
	for (int len = strlen(out); len > 0 && out[len - 1] == '\n'; len--)
		out[len - 1] = '\0';
	last = strrchr(out, '\n');
	last = last ? last + 1 : out;
	meta = pi_jsonb_parse(last);
	conv->sheet = pi_jsonb_string(meta, "sheet");
	conv->where = pi_jsonb_string(meta, "where");
	conv->row_offset = (int) member_number(meta, "row_offset", 0);
	conv->text_columns = member_indexes(meta, "text_columns");
	conv->json_columns = member_indexes(meta, "json_columns");
	if (conv->where == NULL)
		conv->where = "line";
}
