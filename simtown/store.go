package simtown

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// store runs one town's SQL on its dedicated connection. Its context is the
// town's, not a request's: a client that gives up must not cut a SAVEPOINT
// in half.
type store struct {
	c    *sql.Conn
	ctx  context.Context
	town string
	// active is the scaled active alarm interval: the patrol's unit of time.
	active time.Duration
}

func (s store) exec(q string, args ...any) error {
	if _, err := s.c.ExecContext(s.ctx, q, args...); err != nil {
		return fmt.Errorf("exec %.40q: %w", q, err)
	}
	return nil
}

func (s store) count(q string, args ...any) (int, error) {
	var n int
	if err := s.c.QueryRowContext(s.ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("query %.40q: %w", q, err)
	}
	return n, nil
}

// strings returns the first column of every row.
func (s store) strings(q string, args ...any) ([]string, error) {
	rows, err := s.c.QueryContext(s.ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query %.40q: %w", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// inSavepoint runs fn inside a SAVEPOINT that is always rolled back.
func (s store) inSavepoint(name string, fn func() error) (err error) {
	if err := s.exec("SAVEPOINT " + name); err != nil {
		return err
	}
	defer func() {
		rb := s.exec("ROLLBACK TO " + name)
		rel := s.exec("RELEASE " + name)
		if err == nil {
			err = errors.Join(rb, rel)
		}
	}()
	return fn()
}

// inTx runs fn in a transaction that commits when fn succeeds.
func (s store) inTx(fn func() error) error {
	if err := s.exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		return errors.Join(err, s.exec("ROLLBACK"))
	}
	return s.exec("COMMIT")
}

type agent struct {
	ID, Role, Status string
	Hook             sql.NullString
	Attempts         int
	LastActivity     string
	Rig              sql.NullString
}

const agentCols = `bead_id, role, status, current_hook_bead_id, dispatch_attempts, last_activity_at, rig_id`

func (s store) agents(where string, args ...any) ([]agent, error) {
	rows, err := s.c.QueryContext(s.ctx, `SELECT `+agentCols+` FROM agent_metadata `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("query agents %s: %w", where, err)
	}
	defer rows.Close()
	var out []agent
	for rows.Next() {
		var a agent
		if err := rows.Scan(&a.ID, &a.Role, &a.Status, &a.Hook, &a.Attempts, &a.LastActivity, &a.Rig); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s store) agent(id string) (*agent, error) {
	as, err := s.agents(`WHERE bead_id = ?`, id)
	if err != nil || len(as) == 0 {
		return nil, err
	}
	return &as[0], nil
}

type bead struct {
	ID, Type, Status, Title         string
	Assignee, Rig, PRURL, CreatedBy sql.NullString
	Progress                        int
	CreatedAt, UpdatedAt            string
}

const beadCols = `bead_id, type, status, title, assignee_agent_bead_id, rig_id, pr_url, progress, created_at, updated_at, created_by`

func (s store) beads(where string, args ...any) ([]bead, error) {
	rows, err := s.c.QueryContext(s.ctx, `SELECT `+beadCols+` FROM beads `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("query beads %s: %w", where, err)
	}
	defer rows.Close()
	var out []bead
	for rows.Next() {
		var b bead
		if err := rows.Scan(&b.ID, &b.Type, &b.Status, &b.Title, &b.Assignee, &b.Rig, &b.PRURL,
			&b.Progress, &b.CreatedAt, &b.UpdatedAt, &b.CreatedBy); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func (s store) bead(id string) (*bead, error) {
	bs, err := s.beads(`WHERE bead_id = ?`, id)
	if err != nil || len(bs) == 0 {
		return nil, err
	}
	return &bs[0], nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// logBeadEvent appends to bead_events, the history status's recentEvents
// shows; "" values are stored as NULL.
func (s store) logBeadEvent(beadID, agentID, typ, oldValue, newValue, at string) error {
	return s.exec(`INSERT INTO bead_events (bead_id, agent_id, event_type, old_value, new_value, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, beadID, nullable(agentID), typ, nullable(oldValue), nullable(newValue), at)
}
