-- 0005_cluster: what the cluster registry (issue 6, docs/cluster.md) keeps besides the admin state
-- columns of 0001: who changed a node's admin state last and why, an audit log of every admin
-- action, and the address of the coordinator that leads.

-- The last admin change of a node: its reason (drain, cancel or eligibility) and who made it.
ALTER TABLE nodes
  ADD COLUMN admin_reason     text,
  ADD COLUMN admin_changed_by text,
  ADD COLUMN admin_changed_at timestamptz;

-- Every admin action on a node, newest last: who did what and why. Kept when a node is removed
-- (force_leave), so there is no foreign key to nodes.
CREATE TABLE node_admin_actions (
  id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  node   text NOT NULL,
  action text NOT NULL CHECK (action IN ('drain', 'cancel_drain', 'eligibility', 'force_leave')),
  who    text NOT NULL,
  reason text NOT NULL DEFAULT '',
  detail text NOT NULL DEFAULT '',
  at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX node_admin_actions_node_idx ON node_admin_actions (node, at);

-- The coordinator that holds the leader lock (a session advisory lock) and where nodes reach its
-- registry. One row; written by each new leader right after it took the lock, so it can name a
-- coordinator that has died since: nodes then try the next address.
CREATE TABLE cluster_leader (
  id      integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  address text NOT NULL,
  holder  text NOT NULL,
  since   timestamptz NOT NULL DEFAULT now()
);
