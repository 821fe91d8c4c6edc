package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// The batch methods exist for throughput: a runner ingesting thousands of
// events a second cannot afford a transaction (and, on SQLite, an fsync)
// per event. Each batch is one transaction; on PostgreSQL its statements
// go to the server in one round trip.

// AddWindowEvents implements Runtime.
func (s *SQLite) AddWindowEvents(ctx context.Context, adds []WindowAdd) ([]WindowResult, error) {
	out := make([]WindowResult, len(adds))
	if len(adds) == 0 {
		return out, nil
	}
	err := s.sqliteTx(ctx, func(tx *sql.Tx) error {
		seen, err := tx.PrepareContext(ctx, `INSERT INTO trigger_seen (trigger, key, event_id, at) VALUES (?, ?, ?, ?)
ON CONFLICT (trigger, key) DO UPDATE SET event_id = excluded.event_id WHERE trigger_seen.event_id = excluded.event_id
RETURNING 1`)
		if err != nil {
			return err
		}
		defer seen.Close()
		ins, err := tx.PrepareContext(ctx, `INSERT INTO window_events (trigger, customer_id, key, at) VALUES (?, ?, ?, ?)
ON CONFLICT (trigger, key) DO NOTHING`)
		if err != nil {
			return err
		}
		defer ins.Close()
		count, err := tx.PrepareContext(ctx, `SELECT COUNT(*) FROM window_events WHERE trigger = ? AND customer_id = ? AND at >= ? AND at <= ?`)
		if err != nil {
			return err
		}
		defer count.Close()
		for i, a := range adds {
			e := a.Event
			at := utc(e.At).UnixMicro()
			if a.DedupeKey != "" {
				var one int
				err := seen.QueryRowContext(ctx, e.Trigger, a.DedupeKey, e.Key, at).Scan(&one)
				if errors.Is(err, sql.ErrNoRows) {
					out[i].Duplicate = true
					continue
				}
				if err != nil {
					return err
				}
			}
			if !a.Window {
				continue
			}
			if _, err := ins.ExecContext(ctx, e.Trigger, e.CustomerID, e.Key, at); err != nil {
				return err
			}
		}
		// Counted once all are in, as PostgreSQL does: a late event of
		// the batch counts in the windows of the newer ones.
		for i, a := range adds {
			if !a.Window || out[i].Duplicate {
				continue
			}
			e := a.Event
			if err := count.QueryRowContext(ctx, e.Trigger, e.CustomerID, utc(a.Since).UnixMicro(), utc(e.At).UnixMicro()).Scan(&out[i].Count); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("adding events to trigger windows: %w", err)
	}
	return out, nil
}

// StartJourneys implements Runtime.
func (s *SQLite) StartJourneys(ctx context.Context, starts []JourneyStart) ([]bool, error) {
	out := make([]bool, len(starts))
	if len(starts) == 0 {
		return out, nil
	}
	now := s.now()
	err := s.sqliteTx(ctx, func(tx *sql.Tx) error {
		for i, st := range starts {
			j := st.Journey
			if j.ID == "" || j.Trigger == "" || j.CustomerID == "" {
				return errors.New("id, trigger and customer id are required")
			}
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM journeys WHERE id = ?
UNION ALL
SELECT 1 FROM journeys WHERE trigger = ? AND customer_id = ? AND (status = 'active' OR started_at > ?)
LIMIT 1`, j.ID, j.Trigger, j.CustomerID, utc(st.NotBefore).UnixMicro()).Scan(&one)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := tx.ExecContext(ctx, `INSERT INTO journeys (id, trigger, customer_id, status, step, start_key, event, exit_reason, started_at, updated_at)
VALUES (?, ?, ?, 'active', 0, ?, ?, '', ?, ?)`, j.ID, j.Trigger, j.CustomerID, j.StartKey, j.Event,
					orNow(j.StartedAt, now).UnixMicro(), orNow(j.UpdatedAt, now).UnixMicro()); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO timers (journey_id, step, due_at) VALUES (?, ?, ?)`,
					j.ID, st.First.Step, orNow(st.First.DueAt, now).UnixMicro()); err != nil {
					return err
				}
				out[i] = true
			case err != nil:
				return err
			}
			if !st.ClearTo.IsZero() {
				if _, err := tx.ExecContext(ctx, `DELETE FROM window_events WHERE trigger = ? AND customer_id = ? AND at <= ?`,
					j.Trigger, j.CustomerID, utc(st.ClearTo).UnixMicro()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("starting journeys: %w", err)
	}
	return out, nil
}

// AddWindowEvents implements Runtime. The batch is three statements over
// arrays, sent in one round trip: the dedupe keys, the window inserts and
// the counts; statements per event cost the server far more.
func (p *Postgres) AddWindowEvents(ctx context.Context, adds []WindowAdd) ([]WindowResult, error) {
	out := make([]WindowResult, len(adds))
	if len(adds) == 0 {
		return out, nil
	}
	// Dedupe keys: the first event of the batch with a key records it;
	// later ones are duplicates unless they are that same event again.
	type first struct {
		eventID string
		idx     int
	}
	firsts := map[[2]string]first{}
	var sTrig, sKey, sEvent []string
	var sAt []time.Time
	var sIdx []int
	for i, a := range adds {
		if a.DedupeKey == "" {
			continue
		}
		k := [2]string{a.Event.Trigger, a.DedupeKey}
		if f, ok := firsts[k]; ok {
			if f.eventID != a.Event.Key {
				out[i].Duplicate = true
			}
			continue
		}
		firsts[k] = first{a.Event.Key, i}
		sTrig, sKey, sEvent, sAt = append(sTrig, a.Event.Trigger), append(sKey, a.DedupeKey), append(sEvent, a.Event.Key), append(sAt, utc(a.Event.At))
		sIdx = append(sIdx, i)
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if len(sKey) > 0 {
			rows, err := tx.Query(ctx, `INSERT INTO trigger_seen (trigger, key, event_id, at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT (trigger, key) DO UPDATE SET event_id = excluded.event_id WHERE trigger_seen.event_id = excluded.event_id
RETURNING trigger, key`, sTrig, sKey, sEvent, sAt)
			if err != nil {
				return err
			}
			recorded := map[[2]string]bool{}
			for rows.Next() {
				var k [2]string
				if err := rows.Scan(&k[0], &k[1]); err != nil {
					rows.Close()
					return err
				}
				recorded[k] = true
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for j, i := range sIdx {
				if !recorded[[2]string{sTrig[j], sKey[j]}] {
					out[i].Duplicate = true
				}
			}
			// A later event of the batch that repeats the first's id
			// shares its fate.
			for i, a := range adds {
				if a.DedupeKey != "" && !out[i].Duplicate {
					if f := firsts[[2]string{a.Event.Trigger, a.DedupeKey}]; f.idx != i && out[f.idx].Duplicate {
						out[i].Duplicate = true
					}
				}
			}
		}
		var wTrig, wCust, wKey []string
		var wAt, wSince []time.Time
		var wIdx []int32
		for i, a := range adds {
			if !a.Window || out[i].Duplicate {
				continue
			}
			wTrig, wCust, wKey = append(wTrig, a.Event.Trigger), append(wCust, a.Event.CustomerID), append(wKey, a.Event.Key)
			wAt, wSince, wIdx = append(wAt, utc(a.Event.At)), append(wSince, utc(a.Since)), append(wIdx, int32(i))
		}
		if len(wIdx) == 0 {
			return nil
		}
		// The windows' advisory locks, as AddWindowEvent takes them, so
		// that another runner adding events for the same customers counts
		// these and is counted; taken in one order, so that two batches
		// cannot deadlock.
		keys := make([]uint64, 0, len(wIdx))
		for j := range wIdx {
			keys = append(keys, windowLockKey(wTrig[j], wCust[j]))
		}
		slices.Sort(keys)
		keys = slices.Compact(keys)
		hi, lo := make([]int32, len(keys)), make([]int32, len(keys))
		for j, k := range keys {
			hi[j], lo[j] = int32(k>>32), int32(k)
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hi, lo) FROM unnest($1::int4[], $2::int4[]) WITH ORDINALITY AS u(hi, lo, n) ORDER BY n`, hi, lo); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO window_events (trigger, customer_id, key, at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT (trigger, key) DO NOTHING`, wTrig, wCust, wKey, wAt); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT u.i, (SELECT count(*) FROM window_events w
    WHERE w.trigger = u.trig AND w.customer_id = u.cust AND w.at >= u.since AND w.at <= u.at)
FROM unnest($1::int[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS u(i, trig, cust, since, at)`,
			wIdx, wTrig, wCust, wSince, wAt)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var i int32
			var n int64
			if err := rows.Scan(&i, &n); err != nil {
				return err
			}
			out[i].Count = int(n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("adding events to trigger windows: %w", err)
	}
	return out, nil
}

// StartJourneys implements Runtime. Two runners starting one customer's
// journey at once meet in the unique index of active journeys: the
// statement's ON CONFLICT makes the second a refusal, not an error that
// would abort the batch.
func (p *Postgres) StartJourneys(ctx context.Context, starts []JourneyStart) ([]bool, error) {
	out := make([]bool, len(starts))
	if len(starts) == 0 {
		return out, nil
	}
	now := p.now()
	b := &pgx.Batch{}
	for _, st := range starts {
		j := st.Journey
		if j.ID == "" || j.Trigger == "" || j.CustomerID == "" {
			return nil, errors.New("starting journeys: id, trigger and customer id are required")
		}
		var event []byte
		if len(j.Event) > 0 {
			event = j.Event
		}
		b.Queue(`WITH j AS (
    INSERT INTO journeys (id, trigger, customer_id, status, step, start_key, event, exit_reason, started_at, updated_at)
    SELECT $1, $2, $3, 'active', 0, $4, $5, '', $6, $7
    WHERE NOT EXISTS (SELECT 1 FROM journeys WHERE id = $1)
      AND NOT EXISTS (SELECT 1 FROM journeys WHERE trigger = $2 AND customer_id = $3
                      AND (status = 'active' OR started_at > $8))
    ON CONFLICT DO NOTHING
    RETURNING id),
t AS (INSERT INTO timers (journey_id, step, due_at) SELECT id, $9, $10 FROM j RETURNING 1)
SELECT count(*) FROM t`,
			j.ID, j.Trigger, j.CustomerID, j.StartKey, event, orNow(j.StartedAt, now), orNow(j.UpdatedAt, now),
			utc(st.NotBefore), st.First.Step, orNow(st.First.DueAt, now))
		if !st.ClearTo.IsZero() {
			b.Queue(`DELETE FROM window_events WHERE trigger = $1 AND customer_id = $2 AND at <= $3`, j.Trigger, j.CustomerID, utc(st.ClearTo))
		}
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b)
		for i, st := range starts {
			var n int64
			if err := br.QueryRow().Scan(&n); err != nil {
				br.Close()
				return err
			}
			out[i] = n == 1
			if !st.ClearTo.IsZero() {
				if _, err := br.Exec(); err != nil {
					br.Close()
					return err
				}
			}
		}
		return br.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("starting journeys: %w", err)
	}
	return out, nil
}
