package state

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// This file is the Runtime of the PostgreSQL backend. Several runners may
// share the database, so everything that hands out work is one statement
// that claims rows with FOR UPDATE SKIP LOCKED, and every "insert unless
// there" leans on a unique index rather than on a read before the write.
//
// The hot paths (MarkSeen, AddWindowEvent) send their write and their read
// as one pgx batch: one round trip, yet two statements, so the read takes
// a fresh snapshot and sees a conflicting row that another runner committed
// while the write waited for it.

// pgLeader is a scheduler leadership held by this process: the advisory
// lock lives on conn's session, taken out of the pool for as long as it is
// held.
type pgLeader struct {
	owner string
	conn  *pgx.Conn
}

// Value implements Runtime.
func (p *Postgres) Value(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := p.pool.QueryRow(ctx, `SELECT value FROM kv WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", key, err)
	}
	return nonNil(v), true, nil
}

// nonNil keeps an empty value distinct from no value: bytea is NOT NULL.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// PutValue implements Runtime.
func (p *Postgres) PutValue(ctx context.Context, key string, value []byte) error {
	if key == "" {
		return errors.New("storing a value: no key")
	}
	if _, err := p.pool.Exec(ctx, `INSERT INTO kv (key, value, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, nonNil(value), utc(p.now())); err != nil {
		return fmt.Errorf("storing %s: %w", key, err)
	}
	return nil
}

// PutValueIfAbsent implements Runtime. Of two runners racing, the second's
// insert waits for the first to commit and does nothing; its read, a
// statement of its own, then sees the first one's value.
func (p *Postgres) PutValueIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error) {
	if key == "" {
		return nil, errors.New("storing a value: no key")
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO kv (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`,
		key, nonNil(value), utc(p.now()))
	b.Queue(`SELECT value FROM kv WHERE key = $1`, key)
	var v []byte
	err := p.batch(ctx, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		return br.QueryRow().Scan(&v)
	})
	if err != nil {
		return nil, fmt.Errorf("storing %s: %w", key, err)
	}
	return nonNil(v), nil
}

// batch sends b in one round trip, reads its results with read, and
// returns the first error of either.
func (p *Postgres) batch(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	br := p.pool.SendBatch(ctx, b)
	err := read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// MarkSeen implements Runtime.
func (p *Postgres) MarkSeen(ctx context.Context, trigger, key, eventID string, at time.Time) (bool, error) {
	if trigger == "" || key == "" {
		return false, errors.New("marking an event seen: trigger and key are required")
	}
	// A new key, the usual case, is one statement. Only a key already
	// there is read back, in a statement of its own so that it sees the
	// row another runner committed while the insert waited for it.
	tag, err := p.pool.Exec(ctx, `INSERT INTO trigger_seen (trigger, key, event_id, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		trigger, key, eventID, orNow(at, p.now()))
	if err == nil && tag.RowsAffected() == 1 {
		return true, nil
	}
	var first string
	if err == nil {
		err = p.pool.QueryRow(ctx, `SELECT event_id FROM trigger_seen WHERE trigger = $1 AND key = $2`, trigger, key).Scan(&first)
	}
	if err != nil {
		return false, fmt.Errorf("marking an event of %s seen: %w", trigger, err)
	}
	return first == eventID, nil
}

// AddWindowEvent implements Runtime. The insert first takes a transaction
// advisory lock on the trigger and customer, held until the count after it
// is read: of two runners adding events for one customer at once, the
// second counts the first one's event, so a threshold crossed by the two
// together is seen. Without it each could count only its own and both
// stay below. The lock uses the two-int4 key space, apart from the
// bigint keys of the state lock and of leaders.
func (p *Postgres) AddWindowEvent(ctx context.Context, e WindowEvent, since time.Time) (int, error) {
	if e.Trigger == "" || e.CustomerID == "" || e.Key == "" {
		return 0, errors.New("adding a window event: trigger, customer id and key are required")
	}
	k := windowLockKey(e.Trigger, e.CustomerID)
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO window_events (trigger, customer_id, key, at)
SELECT $1, $2, $3, $4 FROM (SELECT pg_advisory_xact_lock($5::int4, $6::int4)) AS l
ON CONFLICT DO NOTHING`,
		e.Trigger, e.CustomerID, e.Key, orNow(e.At, p.now()), int32(k>>32), int32(k))
	b.Queue(`SELECT count(*) FROM window_events WHERE trigger = $1 AND customer_id = $2 AND at >= $3`,
		e.Trigger, e.CustomerID, utc(since))
	var n int
	err := p.batch(ctx, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		return br.QueryRow().Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("adding an event to the window of %s: %w", e.Trigger, err)
	}
	return n, nil
}

// windowLockKey is the advisory lock key of a customer's window.
func windowLockKey(trigger, customerID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(trigger))
	h.Write([]byte{0})
	h.Write([]byte(customerID))
	return h.Sum64()
}

// ClearWindow implements Runtime.
func (p *Postgres) ClearWindow(ctx context.Context, trigger, customerID string, upTo time.Time) error {
	if _, err := p.pool.Exec(ctx, `DELETE FROM window_events WHERE trigger = $1 AND customer_id = $2 AND at <= $3`,
		trigger, customerID, utc(upTo)); err != nil {
		return fmt.Errorf("clearing the window of %s: %w", trigger, err)
	}
	return nil
}

// PruneRuntime implements Runtime.
func (p *Postgres) PruneRuntime(ctx context.Context, trigger string, before time.Time) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM window_events WHERE trigger = $1 AND at < $2`, trigger, utc(before))
	b.Queue(`DELETE FROM trigger_seen WHERE trigger = $1 AND at < $2`, trigger, utc(before))
	err := p.batch(ctx, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		_, err := br.Exec()
		return err
	})
	if err != nil {
		return fmt.Errorf("pruning %s: %w", trigger, err)
	}
	return nil
}

const pgJourneyCols = `id, trigger, customer_id, status, step, start_key, event, exit_reason, started_at, updated_at`

func scanPGJourney(row pgx.Row) (Journey, error) {
	var j Journey
	if err := row.Scan(&j.ID, &j.Trigger, &j.CustomerID, &j.Status, &j.Step, &j.StartKey, &j.Event,
		&j.ExitReason, &j.StartedAt, &j.UpdatedAt); err != nil {
		return Journey{}, err
	}
	if len(j.Event) == 0 {
		j.Event = nil
	}
	j.StartedAt, j.UpdatedAt = j.StartedAt.UTC(), j.UpdatedAt.UTC()
	return j, nil
}

// StartJourney implements Runtime. It is one statement, so one
// transaction: the journey is inserted only when none of the conditions
// that forbid it holds, and the timer only when the journey was. Two
// runners starting the same customer's journey at once both pass the
// checks, but the second insert then hits the primary key or the partial
// unique index on active journeys, which means "not started".
func (p *Postgres) StartJourney(ctx context.Context, j Journey, first Timer, notBefore time.Time) (bool, error) {
	if j.ID == "" || j.Trigger == "" || j.CustomerID == "" {
		return false, errors.New("starting a journey: id, trigger and customer id are required")
	}
	now := p.now()
	var event []byte
	if len(j.Event) > 0 {
		event = j.Event
	}
	tag, err := p.pool.Exec(ctx, `WITH j AS (
    INSERT INTO journeys (id, trigger, customer_id, status, step, start_key, event, exit_reason, started_at, updated_at)
    SELECT $1, $2, $3, 'active', 0, $4, $5, '', $6, $7
    WHERE NOT EXISTS (SELECT 1 FROM journeys WHERE id = $1)
      AND NOT EXISTS (SELECT 1 FROM journeys WHERE trigger = $2 AND customer_id = $3
                      AND (status = 'active' OR started_at > $8))
    RETURNING id)
INSERT INTO timers (journey_id, step, due_at) SELECT id, $9, $10 FROM j`,
		j.ID, j.Trigger, j.CustomerID, j.StartKey, event, orNow(j.StartedAt, now), orNow(j.UpdatedAt, now),
		utc(notBefore), first.Step, orNow(first.DueAt, now))
	if isUniqueViolation(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("starting journey %s: %w", j.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Journey implements Runtime.
func (p *Postgres) Journey(ctx context.Context, id string) (*Journey, error) {
	j, err := scanPGJourney(p.pool.QueryRow(ctx, `SELECT `+pgJourneyCols+` FROM journeys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading journey %s: %w", id, err)
	}
	return &j, nil
}

// Journeys implements Runtime. It reads pageRows journeys at a time, after
// the last one seen, so that no query is held open while fn runs.
func (p *Postgres) Journeys(ctx context.Context, f JourneyFilter, fn func(Journey) error) error {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"trigger", f.Trigger}, {"customer_id", f.CustomerID}, {"status", f.Status}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	var last *Journey
	for {
		w, a := where, args
		if last != nil {
			a = append(append([]any(nil), args...), last.Trigger, last.StartedAt, last.ID)
			w = append(append([]string(nil), where...), fmt.Sprintf("(trigger, started_at, id) > ($%d, $%d, $%d)", len(a)-2, len(a)-1, len(a)))
		}
		q := `SELECT ` + pgJourneyCols + ` FROM journeys`
		for i, c := range w {
			if i == 0 {
				q += " WHERE " + c
			} else {
				q += " AND " + c
			}
		}
		q += fmt.Sprintf(" ORDER BY trigger, started_at, id LIMIT %d", pageRows)
		rows, err := p.pool.Query(ctx, q, a...)
		if err != nil {
			return fmt.Errorf("reading journeys: %w", err)
		}
		page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Journey, error) { return scanPGJourney(r) })
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

// JourneyCounts implements Runtime.
func (p *Postgres) JourneyCounts(ctx context.Context, now time.Time) ([]JourneyCount, error) {
	rows, err := p.pool.Query(ctx, `SELECT trigger, status, step, count(*) FROM (
    SELECT j.trigger, j.step,
        CASE WHEN j.status = 'active'
              AND (SELECT min(t.due_at) FROM timers t WHERE t.journey_id = j.id) > $1
             THEN 'waiting' ELSE j.status END AS status
    FROM journeys j) AS c
GROUP BY trigger, status, step`, utc(now))
	if err != nil {
		return nil, fmt.Errorf("counting journeys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (JourneyCount, error) {
		var c JourneyCount
		err := r.Scan(&c.Trigger, &c.Status, &c.Step, &c.N)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("counting journeys: %w", err)
	}
	// Sorted here, by bytes, rather than by the database's collation.
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Trigger != b.Trigger {
			return a.Trigger < b.Trigger
		}
		if a.Status != b.Status {
			return a.Status < b.Status
		}
		return a.Step < b.Step
	})
	return out, nil
}

// ExitJourney implements Runtime, in one statement.
func (p *Postgres) ExitJourney(ctx context.Context, id, reason string, at time.Time) (bool, error) {
	var n int
	err := p.pool.QueryRow(ctx, `WITH j AS (
    UPDATE journeys SET status = 'exited', exit_reason = $2, updated_at = $3
    WHERE id = $1 AND status = 'active' RETURNING id),
t AS (DELETE FROM timers WHERE journey_id IN (SELECT id FROM j))
SELECT count(*) FROM j`, id, reason, orNow(at, p.now())).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("exiting journey %s: %w", id, err)
	}
	return n == 1, nil
}

// ClaimTimers implements Runtime. The subquery locks the timers it picks
// and skips those another runner's claim has locked, so concurrent claims
// get disjoint timers without waiting for each other.
func (p *Postgres) ClaimTimers(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Timer, error) {
	if owner == "" {
		return nil, errors.New("claiming timers: no owner")
	}
	if limit <= 0 {
		return nil, nil
	}
	now = utc(now)
	rows, err := p.pool.Query(ctx, `UPDATE timers SET lease_owner = $1, lease_until = $2
WHERE (journey_id, step) IN (
    SELECT journey_id, step FROM timers
    WHERE due_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
    ORDER BY due_at, journey_id, step
    LIMIT $4
    FOR UPDATE SKIP LOCKED)
RETURNING journey_id, step, due_at`, owner, utc(now.Add(lease)), now, limit)
	if err != nil {
		return nil, fmt.Errorf("claiming timers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Timer, error) {
		var t Timer
		err := r.Scan(&t.JourneyID, &t.Step, &t.DueAt)
		t.DueAt = t.DueAt.UTC()
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("claiming timers: %w", err)
	}
	// RETURNING follows no order; hand them out soonest first.
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
func (p *Postgres) AdvanceJourney(ctx context.Context, id string, step int, next *Timer, at time.Time) (bool, error) {
	now := p.now()
	at = orNow(at, now)
	done := false
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		// The journey row is checked and moved first: of two runners
		// advancing the same step, the second waits on its row lock and
		// then finds it at another step.
		var tag pgconn.CommandTag
		var err error
		if next == nil {
			tag, err = tx.Exec(ctx, `UPDATE journeys SET status = 'completed', step = $2 + 1, updated_at = $3
WHERE id = $1 AND status = 'active' AND step = $2`, id, step, at)
		} else {
			tag, err = tx.Exec(ctx, `UPDATE journeys SET step = $3, updated_at = $4
WHERE id = $1 AND status = 'active' AND step = $2`, id, step, next.Step, at)
		}
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM timers WHERE journey_id = $1 AND step = $2`, id, step); err != nil {
			return err
		}
		if next != nil {
			// A timer left at the next step (there should be none) is
			// replaced, lease and all.
			if _, err := tx.Exec(ctx, `INSERT INTO timers (journey_id, step, due_at) VALUES ($1, $2, $3)
ON CONFLICT (journey_id, step) DO UPDATE SET due_at = excluded.due_at, lease_owner = '', lease_until = NULL`,
				id, next.Step, orNow(next.DueAt, now)); err != nil {
				return err
			}
		}
		done = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("advancing journey %s: %w", id, err)
	}
	return done, nil
}

// ClaimDueSends implements Runtime, the way ClaimTimers does. Of the due
// rows it takes the first in key order, which is the order they were
// recorded in; the index on sends (status, due_at) finds the due rows
// without reading those deferred to later.
func (p *Postgres) ClaimDueSends(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int, skip []string) ([]Send, error) {
	if owner == "" {
		return nil, errors.New("claiming due sends: no owner")
	}
	if limit <= 0 {
		return nil, nil
	}
	now = utc(now)
	rows, err := p.pool.Query(ctx, `WITH c AS (
    UPDATE sends SET lease_owner = $1, lease_until = $2
    WHERE key IN (
        SELECT key FROM sends
        WHERE status = 'deferred' AND due_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
          AND campaign <> ALL($5::text[])
        ORDER BY key
        LIMIT $4
        FOR UPDATE SKIP LOCKED)
    RETURNING `+sendCols+`)
SELECT `+sendCols+` FROM c ORDER BY key`, owner, utc(now.Add(lease)), now, limit, append([]string{}, skip...))
	if err != nil {
		return nil, fmt.Errorf("claiming due sends: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Send, error) {
		var s Send
		var due *time.Time
		if err := r.Scan(&s.Key, &s.Campaign, &s.Variant, &s.CustomerID, &s.Channel, &s.Provider, &s.Status,
			&s.ProviderMessageID, &s.Error, &due, &s.CreatedAt, &s.UpdatedAt); err != nil {
			return Send{}, err
		}
		if due != nil {
			s.DueAt = due.UTC()
		}
		s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
		return s, nil
	})
	if err != nil {
		return nil, fmt.Errorf("claiming due sends: %w", err)
	}
	return out, nil
}

// SkipDeferredSends implements Runtime. FOR UPDATE SKIP LOCKED passes
// over a row a runner is claiming at that moment; its lease then keeps it
// from being skipped by the next call too.
func (p *Postgres) SkipDeferredSends(ctx context.Context, campaign, reason string, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	now = utc(now)
	tag, err := p.pool.Exec(ctx, `UPDATE sends SET status = 'skipped', error = $2, updated_at = $3
WHERE key IN (
    SELECT key FROM sends
    WHERE campaign = $1 AND status = 'deferred' AND (lease_until IS NULL OR lease_until < $3)
    LIMIT $4
    FOR UPDATE SKIP LOCKED)`, campaign, reason, now, limit)
	if err != nil {
		return 0, fmt.Errorf("skipping deferred sends of %s: %w", campaign, err)
	}
	return int(tag.RowsAffected()), nil
}

// leaderKey is the advisory lock of leadership name in this state: derived
// from the state lock's key (itself from the lineage), so that two states
// in one database do not share leaders, and never equal to the state lock
// or the migration lock.
func (p *Postgres) leaderKey(name string) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "herald leader %d %s", p.lockKey, name)
	// Both halves positive, as for the state lock, so pg_locks reads well.
	k := int64(h.Sum64() & 0x7fff_ffff_7fff_ffff)
	if k == p.lockKey || k == migrateLockKey {
		k ^= 1
	}
	return k
}

// Lead implements Runtime. Leadership is a session-level advisory lock on
// a connection taken out of the pool for it; if that connection dies, the
// lock goes with it, and the next Lead finds out and tries again. Within
// this process, a name held by one owner is not handed to another: the
// advisory lock alone would not tell them apart, as it is re-entrant per
// session.
func (p *Postgres) Lead(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if name == "" || owner == "" {
		return false, errors.New("leading: name and owner are required")
	}
	p.leadMu.Lock()
	defer p.leadMu.Unlock()
	key := p.leaderKey(name)
	if l := p.leaders[name]; l != nil {
		if l.owner != owner {
			return false, nil
		}
		var held bool
		err := l.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
WHERE locktype = 'advisory' AND pid = pg_backend_pid()
  AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1 AND granted)`,
			key>>32, key&0xffff_ffff).Scan(&held)
		if err == nil && held {
			return true, nil
		}
		// The session is gone (or lost the lock): end it for certain, and
		// try to lead again on a new one.
		delete(p.leaders, name)
		closeLeaderConn(l.conn)
		if cerr := ctx.Err(); cerr != nil {
			return false, cerr
		}
	}
	c, err := p.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("leading %s: %w", name, err)
	}
	var got bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		// Whether the lock was taken is unknown: the session must not go
		// back to the pool, so it is ended.
		closeLeaderConn(c.Hijack())
		return false, fmt.Errorf("leading %s: %w", name, err)
	}
	if !got {
		c.Release() // it holds nothing; another runner leads
		return false, nil
	}
	if p.leaders == nil {
		p.leaders = map[string]*pgLeader{}
	}
	p.leaders[name] = &pgLeader{owner: owner, conn: c.Hijack()}
	return true, nil
}

// closeLeaderConn ends a leadership session, which releases its advisory
// lock whether or not an unlock got through before.
func closeLeaderConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn.Close(ctx)
}

// Resign implements Runtime. Resigning a name that owner does not hold
// does nothing.
func (p *Postgres) Resign(ctx context.Context, name, owner string) error {
	p.leadMu.Lock()
	defer p.leadMu.Unlock()
	l := p.leaders[name]
	if l == nil || l.owner != owner {
		return nil
	}
	delete(p.leaders, name)
	p.releaseLeader(ctx, name, l)
	return nil
}

// releaseLeader unlocks a leadership and ends its session. The unlock is
// what lets another runner lead at once: the server ends a closed session
// in its own time, and until it has, the lock is still held. Ending the
// session releases the lock anyway, so an error of the unlock (a session
// already gone) changes nothing.
func (p *Postgres) releaseLeader(ctx context.Context, name string, l *pgLeader) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var released bool
	_ = l.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, p.leaderKey(name)).Scan(&released)
	closeLeaderConn(l.conn)
}

// closeLeaders gives up every leadership held through p, for Close.
func (p *Postgres) closeLeaders() {
	p.leadMu.Lock()
	defer p.leadMu.Unlock()
	for name, l := range p.leaders {
		delete(p.leaders, name)
		p.releaseLeader(context.Background(), name, l)
	}
}

// AddAudit implements Runtime. The records of one call are inserted in one
// statement per pgTxRows, in one transaction, in their order: seq keeps it.
func (p *Postgres) AddAudit(ctx context.Context, recs []AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	now := p.now()
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		for start := 0; start < len(recs); start += pgTxRows {
			batch := recs[start:min(start+pgTxRows, len(recs))]
			n := len(batch)
			at := make([]time.Time, n)
			kind, cust, subj, ch, detail := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			for i, r := range batch {
				at[i], kind[i], cust[i], subj[i], ch[i], detail[i] = orNow(r.At, now), r.Kind, r.CustomerID, r.Subject, r.Channel, r.Detail
			}
			if _, err := tx.Exec(ctx, `INSERT INTO audit (at, kind, customer_id, subject, channel, detail)
SELECT at, kind, cust, subj, ch, detail
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
    WITH ORDINALITY AS u(at, kind, cust, subj, ch, detail, ord)
ORDER BY ord`, at, kind, cust, subj, ch, detail); err != nil {
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

// Audit implements Runtime. It reads pageRows records at a time, so no
// query is held open while fn runs.
func (p *Postgres) Audit(ctx context.Context, customerID string, fn func(AuditRecord) error) error {
	var after int64
	for {
		q, args := `SELECT seq, at, kind, customer_id, subject, channel, detail FROM audit
WHERE seq > $1 ORDER BY seq LIMIT $2`, []any{after, pageRows}
		if customerID != "" {
			q, args = `SELECT seq, at, kind, customer_id, subject, channel, detail FROM audit
WHERE customer_id = $3 AND seq > $1 ORDER BY seq LIMIT $2`, append(args, customerID)
		}
		rows, err := p.pool.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("reading the audit trail: %w", err)
		}
		var seqs []int64
		page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditRecord, error) {
			var a AuditRecord
			var seq int64
			err := r.Scan(&seq, &a.At, &a.Kind, &a.CustomerID, &a.Subject, &a.Channel, &a.Detail)
			a.At = a.At.UTC()
			seqs = append(seqs, seq)
			return a, err
		})
		if err != nil {
			return fmt.Errorf("reading the audit trail: %w", err)
		}
		for _, a := range page {
			if err := fn(a); err != nil {
				return err
			}
		}
		if len(page) < pageRows {
			return nil
		}
		after = seqs[len(seqs)-1]
	}
}
