-- workspace files: write, read, list, delete, and every path attack
\pset null '(null)'
SELECT pi.create_session('files test') AS sid \gset

SELECT r->>'path' AS path, r->>'size' AS size FROM pi.write_file(:'sid', 'hello.txt', 'hello world') r;
SELECT convert_from(pi.read_file(:'sid', 'hello.txt'), 'UTF8') AS content;
SELECT convert_from(pi.read_file(:'sid', 'hello.txt', 6, 3), 'UTF8') AS piece;
SELECT r->>'size' AS size FROM pi.write_file(:'sid', 'hello.txt', '!', true) r;
SELECT convert_from(pi.read_file(:'sid', 'hello.txt'), 'UTF8') AS content;

-- nested folders are created on the way
SELECT r->>'path' AS path FROM pi.write_file(:'sid', 'data/raw/input.csv', E'a,b\n1,2\n') r;
SELECT path, size, mime FROM pi.list_files(:'sid') ORDER BY path;

-- Python sees the same files, and files it writes are listed
SELECT r->>'stdout' AS stdout, r->'files' AS files
FROM pi.execute(E'import pandas as pd\ndf = pd.read_csv("data/raw/input.csv")\nprint(df.a.sum())\ndf.to_csv("out.csv", index=False)', 30, :'sid') r;
SELECT path FROM pi.list_files(:'sid') ORDER BY path;

-- deleting
SELECT pi.delete_file(:'sid', 'out.csv');
SELECT pi.delete_file(:'sid', 'out.csv');
SELECT pi.delete_file(:'sid', 'data');

-- path attacks are refused
SELECT pi.read_file(:'sid', '../../postgresql.conf');
SELECT pi.read_file(:'sid', '/etc/passwd');
SELECT pi.write_file(:'sid', 'data/../../escape.txt', 'x');
SELECT pi.read_file(:'sid', '');
SELECT pi.read_file(:'sid', repeat('a', 300));
SELECT pi.read_file(:'sid', repeat('a/', 600));
SELECT pi.read_file(:'sid', 'data/');
SELECT pi.read_file(:'sid', 'missing.txt');
SELECT pi.read_file(:'sid', 'data');
SELECT pi.read_file(:'sid', NULL);
SELECT pi.read_file(NULL, 'hello.txt');
SELECT pi.read_file('00000000-0000-0000-0000-000000000000', 'hello.txt');
SELECT pi.read_file(:'sid', 'hello.txt', -1);

-- links planted by sandboxed code are never followed
SELECT r->>'status' AS status
FROM pi.execute(E'import os\nos.symlink("/etc/passwd", "passwd_link")\nos.symlink("..", "up")\nos.makedirs("d", exist_ok=True)\nos.symlink("../hello.txt", "d/inner_link")', 30, :'sid') r;
SELECT pi.read_file(:'sid', 'passwd_link');
SELECT pi.read_file(:'sid', 'up/postgresql.conf');
SELECT pi.read_file(:'sid', 'd/inner_link');
SELECT pi.write_file(:'sid', 'passwd_link', 'overwrite');
SELECT pi.write_file(:'sid', 'up/escape.txt', 'x');
SELECT path FROM pi.list_files(:'sid') ORDER BY path;

-- size limit and quota
SET pi.max_file_size_mb = 1;
SELECT pi.write_file(:'sid', 'big.bin', decode(repeat('00', 2 * 1024 * 1024), 'hex'));
RESET pi.max_file_size_mb;
SET pi.max_workspace_mb = 1;
SELECT pi.write_file(:'sid', 'big.bin', decode(repeat('00', 1024 * 1024), 'hex'));
RESET pi.max_workspace_mb;
SELECT count(*) FROM pi.list_files(:'sid') WHERE path LIKE '%big%' OR path LIKE '%pi-upload%';

-- pi.finish_upload: a part file becomes the file whole, or nothing changes
SELECT r->>'size' AS size FROM pi.write_file(:'sid', 'up.txt', 'old') r;
SELECT r->>'size' AS size FROM pi.write_file(:'sid', '.part1', 'new content') r;
SELECT r->>'path' AS path, r->>'size' AS size FROM pi.finish_upload(:'sid', '.part1', 'up.txt') r;
SELECT convert_from(pi.read_file(:'sid', 'up.txt'), 'UTF8') AS content;
SELECT pi.write_file(:'sid', '.part2', ' and more') IS NOT NULL AS written;
SELECT r->>'size' AS size FROM pi.finish_upload(:'sid', '.part2', 'up.txt', true) r;
SELECT convert_from(pi.read_file(:'sid', 'up.txt'), 'UTF8') AS content;
-- append to a file that is not there yet creates it; folders on the way too
SELECT pi.write_file(:'sid', '.part3', 'fresh') IS NOT NULL AS written;
SELECT r->>'path' AS path FROM pi.finish_upload(:'sid', '.part3', 'new/dir/f.txt', true) r;
SELECT convert_from(pi.read_file(:'sid', 'new/dir/f.txt'), 'UTF8') AS content;
-- an append over the file size limit: the file and the part are as before
SET pi.max_file_size_mb = 1;
SELECT pi.write_file(:'sid', 'big.txt', decode(repeat('61', 700 * 1024), 'hex')) IS NOT NULL AS written;
SELECT pi.write_file(:'sid', '.part4', decode(repeat('62', 700 * 1024), 'hex')) IS NOT NULL AS written;
SELECT pi.finish_upload(:'sid', '.part4', 'big.txt', true);
RESET pi.max_file_size_mb;
SELECT size FROM pi.list_files(:'sid') WHERE path IN ('big.txt', '.part4') ORDER BY path;
SELECT pi.delete_file(:'sid', 'big.txt') AND pi.delete_file(:'sid', '.part4') AS deleted;
-- a missing part, the part as its own target, a folder as the target, attacks
SELECT pi.finish_upload(:'sid', '.no-part', 'up.txt');
SELECT pi.write_file(:'sid', '.part5', 'x') IS NOT NULL AS written;
SELECT pi.finish_upload(:'sid', '.part5', '.part5');
SELECT pi.finish_upload(:'sid', '.part5', 'new/dir');
SELECT pi.finish_upload(:'sid', '.part5', '../escape.txt');
SELECT pi.finish_upload(:'sid', '../../postgresql.conf', 'stolen.txt');
SELECT pi.finish_upload(:'sid', '.part5', 'passwd_link', true);
SELECT pi.finish_upload(:'sid', 'passwd_link', 'stolen.txt');
SELECT pi.finish_upload(:'sid', 'up/postgresql.conf', 'stolen.txt');
SELECT convert_from(pi.read_file(:'sid', 'up.txt'), 'UTF8') AS content;
SELECT pi.delete_file(:'sid', '.part5') AS deleted;

-- pi.file_info: one file's size and type, so a reader can ask for a range
SELECT r->>'path' AS path, r->>'size' AS size, r->>'mime' AS mime FROM pi.file_info(:'sid', 'hello.txt') r;
SELECT pi.file_info(:'sid', 'missing.txt');
SELECT pi.file_info(:'sid', 'passwd_link');
SELECT pi.file_info('00000000-0000-0000-0000-000000000000', 'hello.txt');

-- pi.default_session: one per role, made on first use; its runs see its
-- files but keep no Python state
SELECT pi.default_session() = pi.default_session() AS same_session;
SELECT count(*) FROM pi.sessions WHERE is_default AND owner = current_user;
SELECT r->>'size' AS size FROM pi.write_file(pi.default_session(), 'd.txt', 'default') r;
SELECT r->>'stdout' AS stdout, r ? 'session' AS has_session
FROM pi.execute(E'kept = 1\nprint(open("d.txt").read())', 30, pi.default_session()) r;
SELECT r->'error'->>'type' AS error FROM pi.execute('print(kept)', 30, pi.default_session()) r;
SELECT pi.default_session() <> :'sid' AS not_another_session;
SELECT pi.close_session(pi.default_session());
SELECT count(*) FROM pi.sessions WHERE is_default AND owner = current_user;
