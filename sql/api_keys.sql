-- API keys: created by an administrator for a tenant role, shown once,
-- stored as a hash; resolved by the gateway's role only; listed and revoked
-- without secrets; a tenant sees and revokes only its own.
\pset null '(null)'
SELECT current_user AS admin \gset
CREATE ROLE pi_k1 NOLOGIN IN ROLE pi_user;
CREATE ROLE pi_k2 NOLOGIN IN ROLE pi_user;
CREATE ROLE pi_k1_login LOGIN IN ROLE pi_k1;
CREATE ROLE pi_keyadmin LOGIN IN ROLE pi_admin;
CREATE ROLE pi_gw LOGIN IN ROLE pi_authenticator, pi_k1, pi_k2;
CREATE ROLE pi_plain NOLOGIN;

SELECT pi.create_api_key('pi_k1', 'laptop') AS key1 \gset
SELECT pi.create_api_key('pi_k2', 'ci') AS key2 \gset
SELECT length(:'key1') AS length, :'key1' ~ '^pik_[0-9a-f]{12}_[0-9a-f]{40}$' AS shape;
-- refused roles
SELECT pi.create_api_key('no_such_role');
SELECT pi.create_api_key(:'admin');
SELECT pi.create_api_key('pi_plain');
SELECT pi.create_api_key('pi_keyadmin');
SELECT pi.register_api_key('pi_k1', 'short', 'tooshort');
SELECT pi.register_api_key('pi_k2', 'env', 'a-key-chosen-elsewhere-0123') AS prefix;
-- nothing secret is stored
SELECT count(*) AS stored_plain FROM pi.api_keys WHERE prefix = :'key1' OR key_hash = convert_to(:'key1', 'UTF8');

-- the gateway's role resolves keys and reads nothing else
\c - pi_gw
SELECT pi.resolve_api_key(:'key1') AS role1, pi.resolve_api_key(:'key2', 5) AS role2;
SELECT pi.resolve_api_key('a-key-chosen-elsewhere-0123') AS env_role;
SELECT pi.resolve_api_key('pik_000000000000_0000') AS unknown;
SELECT * FROM pi.api_keys;
SELECT rolpassword FROM pg_authid;
SELECT pi.create_api_key('pi_k1');
SELECT * FROM pi.list_api_keys();
-- it becomes a tenant only by SET ROLE, and then sees that tenant's only
SET ROLE pi_k1;
SELECT prefix = left(:'key1', 16) AS own, role, label, use_count FROM pi.list_api_keys();
SELECT pi.create_api_key('pi_k1');
SELECT pi.revoke_api_key(left(:'key2', 16));
RESET ROLE;

-- an administrator sees every key, with its use
\c - pi_keyadmin
SELECT role, label, use_count, last_used_at IS NOT NULL AS used, revoked_at FROM pi.list_api_keys();
SELECT pi.create_api_key('pi_k1', 'second') IS NOT NULL AS created;

-- a tenant revokes its own key; a revoked key resolves to nothing
\c - pi_k1_login
SET ROLE pi_k1;
SELECT pi.revoke_api_key(left(:'key1', 16));
SELECT pi.revoke_api_key(left(:'key1', 16)) AS again;
\c - pi_gw
SELECT pi.resolve_api_key(:'key1') AS revoked, pi.resolve_api_key(:'key2') AS live;

\c - :admin
-- a NULL argument gets an error saying which is missing, never a role
-- "<NULL>", a crash or a silent answer
SELECT pi.create_api_key(NULL);
SELECT pi.register_api_key(NULL, 'x', 'a-key-chosen-elsewhere-9999');
SELECT pi.register_api_key('pi_k1', 'x', NULL);
SELECT pi.revoke_api_key(NULL);
SELECT pi.dataset_schema(NULL);
SELECT pi.resolve_api_key(NULL) AS no_key;
SELECT role, label, use_count, revoked_at IS NOT NULL AS revoked, created_by FROM pi.list_api_keys();
DELETE FROM pi.api_keys WHERE role IN ('pi_k1', 'pi_k2');
DROP ROLE pi_k1_login, pi_keyadmin, pi_gw, pi_plain, pi_k1, pi_k2;
