package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// The Runtime of the SQLite state. SQLite has one writer at a time and
// every transaction here begins IMMEDIATE (see OpenSQLite), so a
// read-then-write inside one transaction cannot race another runner on the
// same file: that is what makes claims, journey starts and leadership
// atomic without row locks.

// sqliteTx runs fn in a write transaction and commits it when fn returns
// nil.
func (s *SQLite) sqliteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// blobOf is b, or an empty slice for nil: SQLite binds a nil []byte as
// NULL, and the kv value column is NOT NULL.
func blobOf(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Value implements Runtime.
func (s *SQLite) Value(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM kv WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", key, err)
	}
	return blobOf(v), true, nil
}

// PutValue implements Runtime.
func (s *SQLite) PutValue(ctx context.Context, key string, value []byte) error {
	if key == "" {
		return errors.New("storing a value: no key")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, blobOf(value), s.now().UnixMicro())
	if err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

// PutValueIfAbsent implements Runtime.
func (s *SQLite) PutValueIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error) {
	if key == "" {
		return nil, errors.New("storing a value: no key")
	}
	var stored []byte
	err := s.sqliteTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`,
			key, blobOf(value), s.now().UnixMicro()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM kv WHERE key = ?`, key).Scan(&stored)
	})
	if err != nil {
		return nil, fmt.Errorf("storing %s: %w", key, err)
	}
	return blobOf(stored), nil
}

// MarkSeen implements Runtime in one statement: the upsert inserts a new
// key, touches a key recorded by the same event (so RETURNING yields a
// row), and leaves another event's key alone (no row).
func (s *SQLite) MarkSeen(ctx context.Context, trigger, key, eventID string, at time.Time) (bool, error) {
	if trigger == "" || key == "" {
		return false, errors.New("marking an event seen: trigger and key are required")
	}
	var one int
	err := s.db.QueryRowContext(ctx, `INSERT INTO trigger_seen (trigger, key, event_id, at) VALUES (?, ?, ?, ?)
ON CONFLICT (trigger, key) DO UPDATE SET event_id = excluded.event_id WHERE trigger_seen.event_id = excluded.event_id
RETURNING 1`, trigger, key, eventID, orNow(at, s.now()).UnixMicro()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("recording dedupe key of %s: %w", trigger, err)
	}
	return true, nil
}

// AddWindowEvent implements Runtime. The insert and the count share a
// transaction, so a ClearWindow between them cannot leave this event out
// of its own count.
func (s *SQLite) AddWindowEvent(ctx context.Context, e WindowEvent, since time.Time) (int, error) {
	if e.Trigger == "" || e.CustomerID == "" || e.Key == "" {
		return 0, errors.New("adding a window event: trigger, customer id and key are required")
	}
	var n int
	err := s.sqliteTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO window_events (trigger, customer_id, key, at) VALUES (?, ?, ?, ?)
ON CONFLICT (trigger, key) DO NOTHING`, e.Trigger, e.CustomerID, e.Key, orNow(e.At, s.now()).UnixMicro()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM window_events WHERE trigger = ? AND customer_id = ? AND at >= ?`,
			e.Trigger, e.CustomerID, utc(since).UnixMicro()).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("adding an event to the window of %s: %w", e.Trigger, err)
	}
	return n, nil
}

// ClearWindow implements Runtime.
func (s *SQLite) ClearWindow(ctx context.Context, trigger, customerID string, upTo time.Time) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM window_events WHERE trigger = ? AND customer_id = ? AND at <= ?`,
		trigger, customerID, utc(upTo).UnixMicro()); err != nil {
		return fmt.Errorf("clearing the window of %s: %w", trigger, err)
	}
	return nil
}

// PruneRuntime implements Runtime.
func (s *SQLite) PruneRuntime(ctx context.Context, trigger string, before time.Time) error {
	b := utc(before).UnixMicro()
	err := s.sqliteTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM window_events WHERE trigger = ? AND at < ?`, trigger, b); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM trigger_seen WHERE trigger = ? AND at < ?`, trigger, b)
		return err
	})
	if err != nil {
		return fmt.Errorf("pruning %s: %w", trigger, err)
	}
	return nil
}

// StartJourney implements Runtime. The checks and the inserts share one
// write transaction, so of two runners starting the same customer's
// journey the second sees the first's.
func (s *SQLite) StartJourney(ctx context.Context, j Journey, first Timer, notBefore time.Time) (bool, error) {
	if j.ID == "" || j.Trigger == "" || j.CustomerID == "" {
		return false, errors.New("starting a journey: id, trigger and customer id are required")
	}
	now := s.now()
	started := false
	err := s.sqliteTx(ctx, func(tx *sql.Tx) error {
		// notBefore is compared as given, zero included: a zero
		// notBefore lets no customer in twice.
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM journeys WHERE id = ?
UNION ALL
SELECT 1 FROM journeys WHERE trigger = ? AND customer_id = ? AND (status = 'active' OR started_at > ?)
LIMIT 1`, j.ID, j.Trigger, j.CustomerID, utc(notBefore).UnixMicro()).Scan(&one)
		if err == nil {
			return nil // refused
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO journeys (id, trigger, customer_id, status, step, start_key, event, exit_reason, started_at, updated_at)
VALUES (?, ?, ?, 'active', 0, ?, ?, '', ?, ?)`,
			j.ID, j.Trigger, j.CustomerID, j.StartKey, j.Event, orNow(j.StartedAt, now).UnixMicro(), orNow(j.UpdatedAt, now).UnixMicro()); err != nil {
			return err
		}
		if err := insertTimer(ctx, tx, j.ID, first, now); err != nil {
			return err
		}
		started = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("starting journey %s: %w", j.ID, err)
	}
	return started, nil
}

// insertTimer stores journey id's timer t, free to claim; a zero DueAt is
// now. A timer left at the same step (it should not be) is replaced rather
// than failing the journey.
func insertTimer(ctx context.Context, tx *sql.Tx, id string, t Timer, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO timers (journey_id, step, due_at) VALUES (?, ?, ?)
ON CONFLICT (journey_id, step) DO UPDATE SET due_at = excluded.due_at, lease_owner = '', lease_until = NULL`,
		id, t.Step, orNow(t.DueAt, now).UnixMicro())
	return err
}

const sqliteJourneyCols = `id, trigger, customer_id, status, step, start_key, event, exit_reason, started_at, updated_at`

func scanSQLiteJourney(sc interface{ Scan(...any) error }) (Journey, error) {
	var j Journey
	var started, updated int64
	if err := sc.Scan(&j.ID, &j.Trigger, &j.CustomerID, &j.Status, &j.Step, &j.StartKey, &j.Event, &j.ExitReason,
		&started, &updated); err != nil {
		return Journey{}, err
	}
	j.StartedAt, j.UpdatedAt = time.UnixMicro(started).UTC(), time.UnixMicro(updated).UTC()
	return j, nil
}

// Journey implements Runtime.
func (s *SQLite) Journey(ctx context.Context, id string) (*Journey, error) {
	j, err := scanSQLiteJourney(s.db.QueryRowContext(ctx, `SELECT `+sqliteJourneyCols+` FROM journeys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading journey %s: %w", id, err)
	}
	return &j, nil
}

// Journeys implements Runtime. It reads pageRows journeys at a time, after
// the last one read, so that fn may write (exit journeys, say) while no
// read is held open.
func (s *SQLite) Journeys(ctx context.Context, f JourneyFilter, fn func(Journey) error) error {
	var where []string
	var args []any
	for _, c := range []struct{ col, val string }{{"trigger", f.Trigger}, {"customer_id", f.CustomerID}, {"status", f.Status}} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	var last *Journey
	for {
		w, a := where, args
		if last != nil {
			w = append(slices.Clip(w), "(trigger, started_at, id) > (?, ?, ?)")
			a = append(slices.Clip(a), last.Trigger, last.StartedAt.UnixMicro(), last.ID)
		}
		q := `SELECT ` + sqliteJourneyCols + ` FROM journeys`
		if len(w) > 0 {
			q += ` WHERE ` + strings.Join(w, " AND ")
		}
		q += ` ORDER BY trigger, started_at, id LIMIT ?`
		page, err := s.journeysPage(ctx, q, append(a, pageRows))
		if err != nil {
			return fmt.Errorf("reading journeys: %w", err)
		}
		for _, j := range page {
			if err := fn(j); err != nil {
				return err
			}
		}
		if len(page) < pageRows {
			return nil
		}
		last = &page[len(page)-1]
	}
}

func (s *SQLite) journeysPage(ctx context.Context, q string, args []any) ([]Journey, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var page []Journey
	for rows.Next() {
		j, err := scanSQLiteJourney(rows)
		if err != nil {
			return nil, err
		}
		page = append(page, j)
	}
	return page, rows.Err()
}

// JourneyCounts implements Runtime. An active journey whose earliest timer
// falls due after now is waiting; one with a due timer, or with none, is
// active.
func (s *SQLite) JourneyCounts(ctx context.Context, now time.Time) ([]JourneyCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT trigger, st, step, COUNT(*) FROM (
    SELECT trigger, step,
        CASE WHEN status = 'active' AND (SELECT MIN(due_at) FROM timers WHERE journey_id = journeys.id) > ?
            THEN 'waiting' ELSE status END AS st
    FROM journeys)
GROUP BY trigger, st, step ORDER BY trigger, st, step`, utc(now).UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("counting journeys: %w", err)
	}
	defer rows.Close()
	var out []JourneyCount
	for rows.Next() {
		var c JourneyCount
		if err := rows.Scan(&c.Trigger, &c.Status, &c.Step, &c.N); err != nil {
			return nil, fmt.Errorf("counting journeys: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting journeys: %w", err)
	}
	return out, nil
}

// ExitJourney implements Runtime.
func (s *SQLite) ExitJourney(ctx context.Context, id, reason string, at time.Time) (bool, error) {
	exited := false
	err := s.sqliteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE journeys SET status = 'exited', exit_reason = ?, updated_at = ? WHERE id = ? AND status = 'active'`,
			reason, orNow(at, s.now()).UnixMicro(), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM timers WHERE journey_id = ?`, id); err != nil {
			return err
		}
		exited = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("exiting journey %s: %w", id, err)
	}
	return exited, nil
}

// ClaimTimers implements Runtime: one UPDATE that picks the due, unleased
// timers and leases them, inside the write lock.
func (s *SQLite) ClaimTimers(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Timer, error) {
	if owner == "" {
		return nil, errors.New("claiming timers: no owner")
	}
	if limit <= 0 {
		return nil, nil
	}
	n := utc(now).UnixMicro()
	rows, err := s.db.QueryContext(ctx, `UPDATE timers SET lease_owner = ?, lease_until = ?
WHERE rowid IN (
    SELECT rowid FROM timers WHERE due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
    ORDER BY due_at LIMIT ?)
RETURNING journey_id, step, due_at`, owner, utc(now.Add(lease)).UnixMicro(), n, n, limit)
	if err != nil {
		return nil, fmt.Errorf("claiming timers: %w", err)
	}
	defer rows.Close()
	var out []Timer
	for rows.Next() {
		var t Timer
		var due int64
		if err := rows.Scan(&t.JourneyID, &t.Step, &due); err != nil {
			return nil, fmt.Errorf("claiming timers: %w", err)
		}
		t.DueAt = time.UnixMicro(due).UTC()
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claiming timers: %w", err)
	}
	// RETURNING comes in no promised order; hand out the earliest first.
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.DueAt.Equal(b.DueAt) {
			return a.DueAt.Before(b.DueAt)
		}
		if a.JourneyID != b.JourneyID {
			return a.JourneyID < b.JourneyID
		}
		return a.Step < b.Step
	})
	return out, nil
}

// AdvanceJourney implements Runtime.
func (s *SQLite) AdvanceJourney(ctx context.Context, id string, step int, next *Timer, at time.Time) (bool, error) {
	status, nextStep := JourneyCompleted, step+1 // completed: Step is the number of steps
	if next != nil {
		status, nextStep = JourneyActive, next.Step
	}
	now := s.now()
	advanced := false
	err := s.sqliteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE journeys SET status = ?, step = ?, updated_at = ? WHERE id = ? AND status = 'active' AND step = ?`,
			status, nextStep, orNow(at, now).UnixMicro(), id, step)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM timers WHERE journey_id = ? AND step = ?`, id, step); err != nil {
			return err
		}
		if next != nil {
			if err := insertTimer(ctx, tx, id, *next, now); err != nil {
				return err
			}
		}
		advanced = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("advancing journey %s: %w", id, err)
	}
	return advanced, nil
}

// ClaimDueSends implements Runtime like ClaimTimers. The lease columns are
// all it writes: a claim is not an outcome, so UpdatedAt stays. The
// sends_end_lease trigger (migration 0002) ends the lease when UpdateSends
// writes the outcome.
func (s *SQLite) ClaimDueSends(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int, skip []string) ([]Send, error) {
	if owner == "" {
		return nil, errors.New("claiming due sends: no owner")
	}
	if limit <= 0 {
		return nil, nil
	}
	n := utc(now).UnixMicro()
	args := []any{owner, utc(now.Add(lease)).UnixMicro(), n, n}
	except := ""
	if len(skip) > 0 {
		except = " AND campaign NOT IN (?" + strings.Repeat(",?", len(skip)-1) + ")"
		for _, c := range skip {
			args = append(args, c)
		}
	}
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, `UPDATE sends SET lease_owner = ?, lease_until = ?
WHERE rowid IN (
    SELECT rowid FROM sends WHERE status = 'deferred' AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)`+except+`
    ORDER BY key LIMIT ?)
RETURNING `+sendCols, args...)
	if err != nil {
		return nil, fmt.Errorf("claiming due sends: %w", err)
	}
	defer rows.Close()
	var out []Send
	for rows.Next() {
		var r Send
		var due, created, updated sql.NullInt64
		if err := rows.Scan(&r.Key, &r.Campaign, &r.Variant, &r.CustomerID, &r.Channel, &r.Provider, &r.Status,
			&r.ProviderMessageID, &r.Error, &due, &created, &updated); err != nil {
			return nil, fmt.Errorf("claiming due sends: %w", err)
		}
		r.DueAt, r.CreatedAt, r.UpdatedAt = fromSQLiteTime(due), fromSQLiteTime(created), fromSQLiteTime(updated)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claiming due sends: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// SkipDeferredSends implements Runtime. One statement reads and writes
// the rows, so a runner's outcome written between the two cannot be lost
// as it could be with a read followed by UpdateSends.
func (s *SQLite) SkipDeferredSends(ctx context.Context, campaign, reason string, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n := utc(now).UnixMicro()
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	res, err := s.db.ExecContext(ctx, `UPDATE sends SET status = 'skipped', error = ?, updated_at = ?
WHERE rowid IN (
    SELECT rowid FROM sends WHERE campaign = ? AND status = 'deferred' AND (lease_until IS NULL OR lease_until <= ?)
    LIMIT ?)`, reason, n, campaign, n, limit)
	if err != nil {
		return 0, fmt.Errorf("skipping deferred sends of %s: %w", campaign, err)
	}
	done, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("skipping deferred sends of %s: %w", campaign, err)
	}
	return int(done), nil
}

// Lead implements Runtime with a lease row: one upsert that takes the row
// when it is missing, renews it when owner holds it, and takes it over
// when its lease has run out. RETURNING yields a row exactly when owner
// holds the lease afterwards.
func (s *SQLite) Lead(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if name == "" || owner == "" {
		return false, errors.New("leading: name and owner are required")
	}
	now := s.now()
	var one int
	err := s.db.QueryRowContext(ctx, `INSERT INTO leaders (name, owner, until) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
    WHERE leaders.owner = excluded.owner OR leaders.until <= ?
RETURNING 1`, name, owner, now.Add(ttl).UnixMicro(), now.UnixMicro()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("leading %s: %w", name, err)
	}
	return true, nil
}

// Resign implements Runtime.
func (s *SQLite) Resign(ctx context.Context, name, owner string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM leaders WHERE name = ? AND owner = ?`, name, owner); err != nil {
		return fmt.Errorf("resigning %s: %w", name, err)
	}
	return nil
}

// AddAudit implements Runtime: one transaction, so the records of one call
// keep their order among themselves and with other callers'.
func (s *SQLite) AddAudit(ctx context.Context, recs []AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	now := s.now()
	err := s.sqliteTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit (at, kind, customer_id, subject, channel, detail) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range recs {
			if _, err := stmt.ExecContext(ctx, orNow(r.At, now).UnixMicro(), r.Kind, r.CustomerID, r.Subject, r.Channel, r.Detail); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("adding audit records: %w", err)
	}
	return nil
}

// Audit implements Runtime. Records come in the order they were added
// (seq), pageRows at a time so that no read is held open while fn runs.
func (s *SQLite) Audit(ctx context.Context, customerID string, fn func(AuditRecord) error) error {
	var after int64
	for {
		page, last, err := s.auditPage(ctx, customerID, after)
		if err != nil {
			return fmt.Errorf("reading the audit trail: %w", err)
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < pageRows {
			return nil
		}
		after = last
	}
}

func (s *SQLite) auditPage(ctx context.Context, customerID string, after int64) ([]AuditRecord, int64, error) {
	q, args := `SELECT seq, at, kind, customer_id, subject, channel, detail FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`, []any{after, pageRows}
	if customerID != "" {
		q, args = `SELECT seq, at, kind, customer_id, subject, channel, detail FROM audit WHERE customer_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
			[]any{customerID, after, pageRows}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var page []AuditRecord
	var seq int64
	for rows.Next() {
		var r AuditRecord
		var at int64
		if err := rows.Scan(&seq, &at, &r.Kind, &r.CustomerID, &r.Subject, &r.Channel, &r.Detail); err != nil {
			return nil, 0, err
		}
		r.At = time.UnixMicro(at).UTC()
		page = append(page, r)
	}
	return page, seq, rows.Err()
}
