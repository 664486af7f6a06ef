package simtown

import (
	"database/sql"
	"fmt"
)

const (
	metaCounters    = "counters"
	metaHistoryFrom = "history_from" // the oldest checkpoint once older history is pruned
	keepCheckpoints = 2
)

// HistoryPrunedError answers a faithful replay that starts before the
// history the town still keeps.
type HistoryPrunedError struct{ Oldest string }

func (e *HistoryPrunedError) Error() string {
	return fmt.Sprintf("History before %s has been pruned; a faithful replay must start at or after it.", e.Oldest)
}

func (s store) meta(key string) (string, error) {
	var v string
	err := s.c.QueryRowContext(s.ctx, `SELECT value FROM sim_meta WHERE key = ?`, key).Scan(&v)
	if err == sql.ErrNoRows {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	return v, nil
}

func (s store) setMeta(key, value string) error {
	return s.exec(`INSERT INTO sim_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
}

// maybeCheckpoint copies the state after every n-th tick (the tick at has
// just been logged and applied). With more than keepCheckpoints copies, the
// oldest goes, and with it every tick and processed event that the next
// copy already covers.
func (s store) maybeCheckpoint(at string, n int) error {
	seq, err := s.count(`SELECT MAX(seq) FROM alarm_ticks`)
	if err != nil || seq%n != 0 {
		return err
	}
	if err := s.exec(`INSERT INTO checkpoints (tick_at) VALUES (?)`, at); err != nil {
		return err
	}
	for _, tbl := range stateTables {
		if err := s.exec(`INSERT INTO checkpoint_`+tbl.name+` (checkpoint_at, `+tbl.cols+`)
			SELECT ?, `+tbl.cols+` FROM `+tbl.name+` ORDER BY rowid`, at); err != nil {
			return err
		}
	}
	cps, err := s.strings(`SELECT tick_at FROM checkpoints ORDER BY tick_at`)
	if err != nil || len(cps) <= keepCheckpoints {
		return err
	}
	drop, base := cps[:len(cps)-keepCheckpoints], cps[len(cps)-keepCheckpoints]
	for _, d := range drop {
		for _, tbl := range stateTables {
			if err := s.exec(`DELETE FROM checkpoint_`+tbl.name+` WHERE checkpoint_at = ?`, d); err != nil {
				return err
			}
		}
		if err := s.exec(`DELETE FROM checkpoints WHERE tick_at = ?`, d); err != nil {
			return err
		}
	}
	if err := s.exec(`DELETE FROM town_events WHERE processed_at IS NOT NULL AND processed_at <= ?`, base); err != nil {
		return err
	}
	if err := s.exec(`DELETE FROM alarm_ticks WHERE tick_at <= ?`, base); err != nil {
		return err
	}
	// The bead history goes with it, but for the last events status shows.
	if err := s.exec(`DELETE FROM bead_events WHERE created_at <= ?
		AND seq <= (SELECT MAX(seq) FROM bead_events) - ?`, base, recentEventsMax); err != nil {
		return err
	}
	return s.setMeta(metaHistoryFrom, base)
}

// checkpointFor is the newest checkpoint at or before from; "" stands for
// the empty state before a town's first tick, usable while nothing has
// been pruned.
func (s store) checkpointFor(from string) (string, error) {
	var cp sql.NullString
	if err := s.c.QueryRowContext(s.ctx, `SELECT MAX(tick_at) FROM checkpoints WHERE tick_at <= ?`, from).Scan(&cp); err != nil {
		return "", fmt.Errorf("find checkpoint: %w", err)
	}
	if cp.Valid {
		return cp.String, nil
	}
	oldest, err := s.meta(metaHistoryFrom)
	if err != nil {
		return "", err
	}
	if oldest != "" {
		return "", &HistoryPrunedError{Oldest: oldest}
	}
	return "", nil
}

// restoreCheckpoint replaces the state with the copy taken at cp ("" = empty).
func (s store) restoreCheckpoint(cp string) error {
	for _, tbl := range stateTables {
		if err := s.exec(`DELETE FROM ` + tbl.name); err != nil {
			return err
		}
		if cp == "" {
			continue
		}
		if err := s.exec(`INSERT INTO `+tbl.name+` (`+tbl.cols+`)
			SELECT `+tbl.cols+` FROM checkpoint_`+tbl.name+` WHERE checkpoint_at = ? ORDER BY rowid`, cp); err != nil {
			return err
		}
	}
	return nil
}
