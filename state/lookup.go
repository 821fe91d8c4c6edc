package state

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// lookupChunk bounds the keys of one lookup statement.
const lookupChunk = 500

// SendsByKey implements Backend.
func (s *SQLite) SendsByKey(ctx context.Context, keys []string) (map[string]Send, error) {
	out := make(map[string]Send, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), lookupChunk)
		chunk := keys[:n]
		keys = keys[n:]
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		rows, err := s.db.QueryContext(ctx, `SELECT `+sendCols+` FROM sends WHERE key IN (?`+strings.Repeat(",?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("reading the ledger: %w", err)
		}
		for rows.Next() {
			var r Send
			var due, created, updated sql.NullInt64
			if err := rows.Scan(&r.Key, &r.Campaign, &r.Variant, &r.CustomerID, &r.Channel, &r.Provider, &r.Status,
				&r.ProviderMessageID, &r.Error, &due, &created, &updated); err != nil {
				rows.Close()
				return nil, fmt.Errorf("reading the ledger: %w", err)
			}
			r.DueAt, r.CreatedAt, r.UpdatedAt = fromSQLiteTime(due), fromSQLiteTime(created), fromSQLiteTime(updated)
			out[r.Key] = r
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the ledger: %w", err)
		}
	}
	return out, nil
}

// SendsByKey implements Backend.
func (p *Postgres) SendsByKey(ctx context.Context, keys []string) (map[string]Send, error) {
	out := make(map[string]Send, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), lookupChunk)
		chunk := keys[:n]
		keys = keys[n:]
		rows, err := p.pool.Query(ctx, `SELECT `+sendCols+` FROM sends WHERE key = ANY($1)`, chunk)
		if err != nil {
			return nil, fmt.Errorf("reading the ledger: %w", err)
		}
		for rows.Next() {
			var r Send
			var due *time.Time
			if err := rows.Scan(&r.Key, &r.Campaign, &r.Variant, &r.CustomerID, &r.Channel, &r.Provider, &r.Status,
				&r.ProviderMessageID, &r.Error, &due, &r.CreatedAt, &r.UpdatedAt); err != nil {
				rows.Close()
				return nil, fmt.Errorf("reading the ledger: %w", err)
			}
			if due != nil {
				r.DueAt = due.UTC()
			}
			r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
			out[r.Key] = r
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the ledger: %w", err)
		}
	}
	return out, nil
}
