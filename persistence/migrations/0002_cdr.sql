-- 0002_cdr: call detail records, one row per call leg (persistence/call_record.hpp), partitioned
-- by day on ended_at (UTC days), with a default partition so that no insert ever fails for
-- want of a partition.
--
-- The unique rule (call_uuid, leg). PostgreSQL only enforces a unique constraint on a
-- partitioned table when it contains the partition key, so it is enforced in two layers:
--   1. cdr itself is unique on (call_uuid, leg, ended_at). The record pipeline is at-least-once
--      and a replayed record is byte-identical (same ended_at, hence the same partition), so
--      `INSERT ... ON CONFLICT (call_uuid, leg, ended_at) DO NOTHING` drops replays natively,
--      and concurrent replays wait on each other like on any unique index.
--   2. cdr_keys (not partitioned) has the primary key (call_uuid, leg). A statement-level
--      trigger on cdr inserts the key of every row the statement actually inserted (rows skipped
--      by ON CONFLICT DO NOTHING are not in the transition table). A second, different record
--      of the same leg (another ended_at) therefore fails the statement with unique_violation
--      (23505) on cdr_keys_pkey instead of being stored twice.
-- The record batcher ingests with (see persistence/README.md):
--   INSERT INTO cdr SELECT DISTINCT ON (call_uuid, leg) s.* FROM cdr_staging s
--   WHERE NOT EXISTS (SELECT 1 FROM cdr_keys k WHERE k.call_uuid = s.call_uuid AND k.leg = s.leg)
--   ON CONFLICT (call_uuid, leg, ended_at) DO NOTHING;
-- Retention drops old partitions and must delete the matching cdr_keys rows (by ended_at).

CREATE TABLE cdr (
  call_uuid    text NOT NULL,
  leg_uuid     text NOT NULL,
  leg          integer NOT NULL,
  direction    text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  caller       text NOT NULL,
  callee       text NOT NULL,
  route_id     bigint,
  flow_id      bigint,
  campaign_id  bigint,
  attempt_id   bigint,
  node         text NOT NULL,
  esl_mode     text NOT NULL CHECK (esl_mode IN ('inbound', 'outbound')),
  created_at   timestamptz NOT NULL,
  answered_at  timestamptz,
  ended_at     timestamptz NOT NULL,
  duration_ms  bigint NOT NULL,
  billsec_ms   bigint NOT NULL,
  hangup_cause text NOT NULL,
  sip_code     integer,
  disposition  text NOT NULL,
  ivr_path     jsonb NOT NULL DEFAULT '[]'::jsonb,
  end_reason   text NOT NULL
               CHECK (end_reason IN ('normal', 'node_drain', 'node_lost', 'engine_restart')),
  CONSTRAINT cdr_call_leg_ended_key UNIQUE (call_uuid, leg, ended_at)
) PARTITION BY RANGE (ended_at);

CREATE TABLE cdr_default PARTITION OF cdr DEFAULT;

-- Lookups by operators and analytics; created on the parent, so every partition gets them.
CREATE INDEX cdr_ended_at_idx ON cdr (ended_at);
CREATE INDEX cdr_caller_idx ON cdr (caller, ended_at);
CREATE INDEX cdr_callee_idx ON cdr (callee, ended_at);
CREATE INDEX cdr_campaign_idx ON cdr (campaign_id, ended_at) WHERE campaign_id IS NOT NULL;
CREATE INDEX cdr_node_idx ON cdr (node, ended_at);

CREATE TABLE cdr_keys (
  call_uuid text NOT NULL,
  leg       integer NOT NULL,
  ended_at  timestamptz NOT NULL,
  PRIMARY KEY (call_uuid, leg)
);
CREATE INDEX cdr_keys_ended_at_idx ON cdr_keys (ended_at);

CREATE FUNCTION callgrid_cdr_record_keys() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO cdr_keys (call_uuid, leg, ended_at)
    SELECT call_uuid, leg, ended_at FROM inserted_rows;
  RETURN NULL;
END;
$$;

CREATE TRIGGER cdr_record_keys AFTER INSERT ON cdr
  REFERENCING NEW TABLE AS inserted_rows
  FOR EACH STATEMENT EXECUTE FUNCTION callgrid_cdr_record_keys();

-- Where the batcher COPYs a batch before moving it into cdr. UNLOGGED: it is emptied in the
-- same transaction that fills it, so nothing in it needs to survive a crash.
CREATE UNLOGGED TABLE cdr_staging (LIKE cdr INCLUDING DEFAULTS);

-- Creates the daily partitions cdr_YYYYMMDD for `days` days starting at `from_day` (UTC days:
-- [day 00:00 UTC, next day 00:00 UTC)). Idempotent: an existing partition is left alone.
-- Rows that already landed in cdr_default for such a day are moved into the new partition
-- (creating it directly would fail on them). Returns the number of partitions created.
-- Concurrent callers are serialised by a transaction-scoped advisory lock.
CREATE FUNCTION callgrid_create_cdr_partitions(from_day date, days integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  day        date;
  lower_at   timestamptz;
  upper_at   timestamptz;
  part_name  text;
  created    integer := 0;
BEGIN
  IF days IS NULL OR days < 0 THEN
    RAISE EXCEPTION 'callgrid_create_cdr_partitions: days must be >= 0, got %', days;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('callgrid_create_cdr_partitions'));
  FOR i IN 0 .. days - 1 LOOP
    day := from_day + i;
    part_name := 'cdr_' || to_char(day, 'YYYYMMDD');
    CONTINUE WHEN to_regclass(quote_ident(part_name)) IS NOT NULL;
    lower_at := day::timestamp AT TIME ZONE 'UTC';
    upper_at := (day + 1)::timestamp AT TIME ZONE 'UTC';
    IF EXISTS (SELECT 1 FROM cdr_default WHERE ended_at >= lower_at AND ended_at < upper_at) THEN
      EXECUTE format('CREATE TABLE %I (LIKE cdr INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                     part_name);
      EXECUTE format('WITH moved AS (DELETE FROM cdr_default WHERE ended_at >= %L AND ended_at < %L'
                     ' RETURNING *) INSERT INTO %I SELECT * FROM moved',
                     lower_at, upper_at, part_name);
      EXECUTE format('ALTER TABLE cdr ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                     part_name, lower_at, upper_at);
    ELSE
      EXECUTE format('CREATE TABLE %I PARTITION OF cdr FOR VALUES FROM (%L) TO (%L)',
                     part_name, lower_at, upper_at);
    END IF;
    created := created + 1;
  END LOOP;
  RETURN created;
END;
$$;

-- Today and the next week exist from the start; the daemon calls the function daily.
SELECT callgrid_create_cdr_partitions((now() AT TIME ZONE 'UTC')::date, 8);
