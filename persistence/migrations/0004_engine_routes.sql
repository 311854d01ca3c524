-- 0004_engine_routes: routes as the call engine needs them, and change notification for the
-- in-memory catalog (persistence/README.md "Catalog", docs/catalog.md).
--
-- A route now says what to do with a matching call (`action`): run an IVR flow (`flow_id`),
-- bridge to `bridge_target`, or hang up with `hangup_cause`. It may be limited to callers
-- matching `caller_pattern` and to `time_windows`; `answer` says whether the engine answers
-- before the action; `esl_mode` says which ESL mode carries the call.

-- Routes before this migration had no action. One with a flow runs it (the default 'flow');
-- one without a flow had nothing to do and cannot satisfy the new rule, so it becomes a
-- disabled hang-up route (UNALLOCATED_NUMBER) rather than failing the migration.
ALTER TABLE routes
  ADD COLUMN caller_pattern text,
  ADD COLUMN time_windows   jsonb,
  ADD COLUMN action         text NOT NULL DEFAULT 'flow'
                            CHECK (action IN ('flow', 'bridge', 'hangup')),
  ADD COLUMN bridge_target  text,
  ADD COLUMN hangup_cause   text,
  ADD COLUMN answer         boolean NOT NULL DEFAULT true,
  ADD COLUMN esl_mode       text NOT NULL DEFAULT 'inbound'
                            CHECK (esl_mode IN ('inbound', 'outbound'));

UPDATE routes
   SET action = 'hangup', hangup_cause = 'UNALLOCATED_NUMBER', enabled = false,
       version = version + 1, updated_at = now()
 WHERE flow_id IS NULL;

-- Each action has exactly its own target and none of the others.
ALTER TABLE routes ADD CONSTRAINT routes_action_target_check CHECK (
  CASE action
    WHEN 'flow'   THEN flow_id IS NOT NULL AND bridge_target IS NULL AND hangup_cause IS NULL
    WHEN 'bridge' THEN bridge_target IS NOT NULL AND bridge_target <> ''
                       AND flow_id IS NULL AND hangup_cause IS NULL
    WHEN 'hangup' THEN hangup_cause IS NOT NULL AND hangup_cause <> ''
                       AND flow_id IS NULL AND bridge_target IS NULL
  END);

-- A caller pattern must be a regular expression PostgreSQL can compile (an invalid one raises
-- 2201B "invalid regular expression" on write); an empty pattern would match everyone, which is
-- what NULL says.
ALTER TABLE routes ADD CONSTRAINT routes_caller_pattern_check CHECK (
  caller_pattern IS NULL OR (caller_pattern <> '' AND ('' ~ caller_pattern) IS NOT NULL));

-- time_windows: NULL = always; otherwise a non-empty array of
--   {"days": ["mon", ...], "from": "HH:MM", "to": "HH:MM", "tz": "Europe/Berlin"}
-- with at least one day (mon tue wed thu fri sat sun, each at most once), from and to as
-- 00:00-23:59 (to may be 24:00) and different; from > to is a window across midnight that
-- belongs to the day it starts on. tz is optional (UTC) and is resolved by the engine. No other
-- keys.
CREATE FUNCTION callgrid_time_windows_valid(windows jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT windows IS NULL
      OR (jsonb_typeof(windows) = 'array'
          AND jsonb_array_length(windows) > 0
          AND NOT EXISTS (
            SELECT 1 FROM jsonb_array_elements(windows) AS w(item)
            WHERE jsonb_typeof(item) <> 'object'
               OR EXISTS (SELECT 1 FROM jsonb_object_keys(item) AS k(key)
                          WHERE key NOT IN ('days', 'from', 'to', 'tz'))
               OR jsonb_typeof(item -> 'days') IS DISTINCT FROM 'array'
               OR jsonb_array_length(item -> 'days') = 0
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(item -> 'days') AS d(day)
                          WHERE jsonb_typeof(day) <> 'string'
                             OR day #>> '{}' NOT IN ('mon', 'tue', 'wed', 'thu', 'fri',
                                                    'sat', 'sun'))
               OR (SELECT count(DISTINCT day) <> count(*)
                   FROM jsonb_array_elements(item -> 'days') AS d(day))
               OR jsonb_typeof(item -> 'from') IS DISTINCT FROM 'string'
               OR jsonb_typeof(item -> 'to') IS DISTINCT FROM 'string'
               OR NOT ((item ->> 'from') ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$')
               OR NOT ((item ->> 'to') ~ '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$')
               OR (item ->> 'from') = (item ->> 'to')
               OR (item ? 'tz' AND (jsonb_typeof(item -> 'tz') <> 'string'
                                    OR (item ->> 'tz') = ''))));
$$;

ALTER TABLE routes ADD CONSTRAINT routes_time_windows_check
  CHECK (callgrid_time_windows_valid(time_windows));

-- Change notification for the catalog watchers: after any statement that changes a catalog
-- table (rows or TRUNCATE), NOTIFY callgrid_catalog with the table's name. Statement level, so
-- a bulk change is one notification; PostgreSQL also folds equal notifications of one
-- transaction into one, and delivers them only when (and if) the transaction commits.
CREATE FUNCTION callgrid_catalog_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('callgrid_catalog', TG_TABLE_NAME);
  RETURN NULL;
END;
$$;

CREATE TRIGGER routes_catalog_notify
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routes
  FOR EACH STATEMENT EXECUTE FUNCTION callgrid_catalog_notify();
CREATE TRIGGER ivr_flows_catalog_notify
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ivr_flows
  FOR EACH STATEMENT EXECUTE FUNCTION callgrid_catalog_notify();
CREATE TRIGGER prompts_catalog_notify
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON prompts
  FOR EACH STATEMENT EXECUTE FUNCTION callgrid_catalog_notify();
CREATE TRIGGER campaigns_catalog_notify
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON campaigns
  FOR EACH STATEMENT EXECUTE FUNCTION callgrid_catalog_notify();

-- `catalog_store::import_flow` finds a flow by name.
CREATE INDEX ivr_flows_name_idx ON ivr_flows (name, flow_id, version);
