package simtown

import (
	"context"
	"database/sql"
	"fmt"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// schema mirrors Gastown's town tables (bead_events: the bead history that
// status's recentEvents shows). The rest is simtown's own:
// alarm_ticks, the times of the real alarm ticks that faithful replay re-runs;
// checkpoint_*, copies of the state at some ticks, so that replay starts
// from the nearest one and older history can be pruned; sim_meta, counters
// that must survive pruning and restarts.
const schema = `
CREATE TABLE IF NOT EXISTS town_events (
  event_id     TEXT PRIMARY KEY,
  event_type   TEXT NOT NULL,
  agent_id     TEXT,
  bead_id      TEXT,
  payload      TEXT NOT NULL DEFAULT '{}',
  created_at   TEXT NOT NULL,
  processed_at TEXT
);
CREATE INDEX IF NOT EXISTS town_events_pending ON town_events(created_at) WHERE processed_at IS NULL;
CREATE INDEX IF NOT EXISTS town_events_processed ON town_events(processed_at);
CREATE TABLE IF NOT EXISTS agent_metadata (
  bead_id              TEXT PRIMARY KEY,
  role                 TEXT NOT NULL,
  status               TEXT NOT NULL,
  current_hook_bead_id TEXT,
  dispatch_attempts    INTEGER NOT NULL DEFAULT 0,
  last_activity_at     TEXT NOT NULL,
  rig_id               TEXT
);
CREATE TABLE IF NOT EXISTS beads (
  bead_id                TEXT PRIMARY KEY,
  type                   TEXT NOT NULL,
  status                 TEXT NOT NULL,
  title                  TEXT NOT NULL,
  assignee_agent_bead_id TEXT,
  rig_id                 TEXT,
  pr_url                 TEXT,
  progress               INTEGER NOT NULL DEFAULT 0,
  created_at             TEXT NOT NULL,
  updated_at             TEXT NOT NULL,
  created_by             TEXT
);
CREATE TABLE IF NOT EXISTS bead_dependencies (
  bead_id            TEXT NOT NULL,
  depends_on_bead_id TEXT NOT NULL,
  kind               TEXT NOT NULL,
  PRIMARY KEY (bead_id, depends_on_bead_id)
);
CREATE INDEX IF NOT EXISTS bead_dependencies_target ON bead_dependencies(depends_on_bead_id);
CREATE INDEX IF NOT EXISTS beads_status ON beads(status, type);
CREATE TABLE IF NOT EXISTS bead_events (
  seq        INTEGER PRIMARY KEY,
  bead_id    TEXT NOT NULL,
  agent_id   TEXT,
  event_type TEXT NOT NULL,
  old_value  TEXT,
  new_value  TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bead_events_created ON bead_events(created_at);
CREATE TABLE IF NOT EXISTS alarm_ticks (
  seq     INTEGER PRIMARY KEY,
  tick_at TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS sim_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (tick_at TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS checkpoint_agent_metadata (
  checkpoint_at TEXT NOT NULL, bead_id TEXT NOT NULL, role TEXT NOT NULL, status TEXT NOT NULL,
  current_hook_bead_id TEXT, dispatch_attempts INTEGER NOT NULL, last_activity_at TEXT NOT NULL, rig_id TEXT
);
CREATE INDEX IF NOT EXISTS checkpoint_agent_metadata_at ON checkpoint_agent_metadata(checkpoint_at);
CREATE TABLE IF NOT EXISTS checkpoint_beads (
  checkpoint_at TEXT NOT NULL, bead_id TEXT NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL, title TEXT NOT NULL,
  assignee_agent_bead_id TEXT, rig_id TEXT, pr_url TEXT, progress INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  created_by TEXT
);
CREATE INDEX IF NOT EXISTS checkpoint_beads_at ON checkpoint_beads(checkpoint_at);
CREATE TABLE IF NOT EXISTS checkpoint_bead_dependencies (
  checkpoint_at TEXT NOT NULL, bead_id TEXT NOT NULL, depends_on_bead_id TEXT NOT NULL, kind TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoint_bead_dependencies_at ON checkpoint_bead_dependencies(checkpoint_at);
`

// stateTables are the tables that hold a town's state (not its logs), with
// their columns; each has a checkpoint_ copy with a leading checkpoint_at.
var stateTables = []struct{ name, cols string }{
	{"agent_metadata", agentCols},
	{"beads", beadCols},
	{"bead_dependencies", "bead_id, depends_on_bead_id, kind"},
}

// openTownDB opens one town's database on a single dedicated connection, so
// that a SAVEPOINT and the statements inside it share that connection.
func openTownDB(path string) (*sql.DB, *sql.Conn, error) {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("connect %s: %w", path, err)
	}
	// A simulation favours cheap writes over durability: no fsync, and the
	// rollback journal (which SAVEPOINTs need) kept in memory. That makes a
	// town three times cheaper to open than with WAL and spares its -shm
	// mapping; the price is that a crash in the middle of a tick can leave
	// that town's file damaged. A small page cache keeps a thousand towns
	// affordable.
	for _, p := range []string{
		"PRAGMA synchronous=OFF",
		"PRAGMA journal_mode=MEMORY",
		"PRAGMA cache_size=-256",
		"PRAGMA temp_store=MEMORY",
		"PRAGMA busy_timeout=5000",
	} {
		if _, err := c.ExecContext(ctx, p); err != nil {
			c.Close()
			db.Close()
			return nil, nil, fmt.Errorf("%s on %s: %w", p, path, err)
		}
	}
	if _, err := c.ExecContext(ctx, schema); err != nil {
		c.Close()
		db.Close()
		return nil, nil, fmt.Errorf("create schema in %s: %w", path, err)
	}
	if err := addCreatedBy(ctx, c); err != nil {
		c.Close()
		db.Close()
		return nil, nil, fmt.Errorf("upgrade schema in %s: %w", path, err)
	}
	return db, c, nil
}

// addCreatedBy adds beads.created_by to a database written before simtown
// kept it.
func addCreatedBy(ctx context.Context, c *sql.Conn) error {
	for _, tbl := range []string{"beads", "checkpoint_beads"} {
		var n int
		if err := c.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = 'created_by'`, tbl).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := c.ExecContext(ctx, `ALTER TABLE `+tbl+` ADD COLUMN created_by TEXT`); err != nil {
				return err
			}
		}
	}
	return nil
}
