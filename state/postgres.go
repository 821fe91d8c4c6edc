package state

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the state in a PostgreSQL database, for teams and for
// several herald workers sharing one state.
//
// The lock is a session-level advisory lock held on a connection of its
// own, so that it goes away with the session if herald dies, plus a row in
// the locks table that says who holds it. A row whose session is gone is
// stale and counts as no lock.
type Postgres struct {
	pool  *pgxpool.Pool
	url   string // as given; may hold a password, never printed
	where string // host/database, for messages; never the password
	now   func() time.Time

	// lockKey is the advisory lock of this state, derived from its
	// lineage so that two states in one database do not share a lock.
	lockKey int64

	mu   sync.Mutex
	held map[string]func() error // unlock of each lock taken through this value

	// leaders holds the scheduler leaderships taken through this value
	// (see Lead), each on a connection of its own; leadMu guards it.
	leadMu  sync.Mutex
	leaders map[string]*pgLeader
}

var _ Backend = (*Postgres)(nil)

// migrateLockKey is the advisory lock held while migrating, so that two
// processes opening a new database at once do not both create the schema.
const migrateLockKey int64 = 0x6865_7261_6c64_4d47 // "heraldMG"

// OpenPostgres connects to the database at url (a postgres:// URL or a
// "host=… dbname=…" string) and brings its schema up to date.
func OpenPostgres(ctx context.Context, url string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can quote the URL, password included.
		return nil, errors.New("opening state: the postgres url is not valid")
	}
	where := cfg.ConnConfig.Database
	if h := cfg.ConnConfig.Host; h != "" {
		where = h + "/" + where
	}
	where = "postgres " + where
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening state in %s: %w", where, err)
	}
	p := &Postgres{pool: pool, url: url, where: where, now: time.Now, held: map[string]func() error{}}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("opening state in %s: %w", where, err)
	}
	m, err := p.Meta(ctx)
	if err != nil {
		pool.Close()
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte("herald state lock " + m.Lineage))
	// Both 32-bit halves positive, so pg_locks' classid and objid compare
	// as plain numbers.
	p.lockKey = int64(h.Sum64() & 0x7fff_ffff_7fff_ffff)
	return p, nil
}

func (p *Postgres) migrate(ctx context.Context) error {
	ms, err := migrations("postgres")
	if err != nil {
		return err
	}
	var current int
	err = p.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current)
	if err == nil && current == len(ms) {
		return nil
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL
)`); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return err
	}
	todo, err := pending(ms, current, p.where)
	if err != nil {
		return err
	}
	for _, m := range todo {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.Version, m.Name, p.now().UTC()); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO meta (id, lineage, serial) VALUES (1, $1, 0) ON CONFLICT (id) DO NOTHING`, newID()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Meta implements Backend.
func (p *Postgres) Meta(ctx context.Context) (Meta, error) {
	var m Meta
	if err := p.pool.QueryRow(ctx, `SELECT lineage, serial FROM meta WHERE id = 1`).Scan(&m.Lineage, &m.Serial); err != nil {
		return Meta{}, fmt.Errorf("reading state meta: %w", err)
	}
	return m, nil
}

// Lock implements Backend.
func (p *Postgres) Lock(ctx context.Context, info LockInfo) (func() error, error) {
	info = fillLock(info, p.now())
	// A connection of its own: the advisory lock lives as long as this
	// session, and force-unlock ends the session to take it away.
	conn, err := pgx.ConnectConfig(ctx, p.pool.Config().ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("locking state: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, p.lockKey).Scan(&got); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("locking state: %w", err)
	}
	if !got {
		conn.Close(context.Background())
		holder, err := p.holder(ctx)
		if err != nil {
			return nil, err
		}
		if holder == nil { // released meanwhile; say so rather than retry
			holder = &LockInfo{Who: "another process"}
		}
		return nil, &LockedError{Holder: *holder}
	}
	// A row left by a holder whose session died is replaced.
	if _, err := conn.Exec(ctx, `INSERT INTO locks (id, lock_id, who, operation, created, pid)
VALUES (1, $1, $2, $3, $4, pg_backend_pid())
ON CONFLICT (id) DO UPDATE SET lock_id = excluded.lock_id, who = excluded.who,
    operation = excluded.operation, created = excluded.created, pid = excluded.pid`,
		info.ID, info.Who, info.Operation, info.Created); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("locking state: %w", err)
	}
	var once sync.Once
	var unlockErr error
	unlock := func() error {
		once.Do(func() {
			p.mu.Lock()
			delete(p.held, info.ID)
			p.mu.Unlock()
			unlockErr = p.unlock(conn, info.ID)
		})
		return unlockErr
	}
	p.mu.Lock()
	p.held[info.ID] = unlock
	p.mu.Unlock()
	return unlock, nil
}

// unlock removes the lock row and ends the lock's session. Any failure on
// that session means it was ended by force-unlock (or lost), and the lock
// with it.
func (p *Postgres) unlock(conn *pgx.Conn, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, `DELETE FROM locks WHERE id = 1 AND lock_id = $1`, id)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLockLost, err)
	}
	var released bool
	if err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, p.lockKey).Scan(&released); err != nil {
		return fmt.Errorf("%w: %v", ErrLockLost, err)
	}
	if tag.RowsAffected() == 0 || !released {
		return ErrLockLost
	}
	return nil
}

// readLock returns the locks table's row with the pid stored in it, and
// the pid of the session holding the advisory lock (0 when it is free).
func (p *Postgres) readLock(ctx context.Context) (*LockInfo, int32, int32, error) {
	var holderPID int32
	err := p.pool.QueryRow(ctx, `SELECT pid FROM pg_locks
WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1 AND granted`,
		p.lockKey>>32, p.lockKey&0xffff_ffff).Scan(&holderPID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, 0, fmt.Errorf("reading state lock: %w", err)
	}
	var h LockInfo
	var pid int32
	err = p.pool.QueryRow(ctx, `SELECT lock_id, who, operation, created, pid FROM locks WHERE id = 1`).
		Scan(&h.ID, &h.Who, &h.Operation, &h.Created, &pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, holderPID, nil
	}
	if err != nil {
		return nil, 0, 0, fmt.Errorf("reading state lock: %w", err)
	}
	h.Created = h.Created.UTC()
	return &h, pid, holderPID, nil
}

// holder returns who holds the lock: the row, when its session holds the
// advisory lock. Between another process taking the advisory lock and
// writing its row, the row is missing or stale; holder gives it a moment
// to appear.
func (p *Postgres) holder(ctx context.Context) (*LockInfo, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		row, pid, holderPID, err := p.readLock(ctx)
		if err != nil {
			return nil, err
		}
		switch {
		case holderPID == 0:
			return nil, nil
		case row != nil && pid == holderPID:
			return row, nil
		case time.Now().After(deadline):
			return &LockInfo{Who: fmt.Sprintf("PostgreSQL session %d", holderPID), Operation: "(unknown)"}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// LockHolder implements Backend.
func (p *Postgres) LockHolder(ctx context.Context) (*LockInfo, error) {
	return p.holder(ctx)
}

// ForceUnlock implements Backend: it ends the session holding the lock,
// which releases the advisory lock, and deletes the row. When that session
// is gone already, only the row is left to delete.
func (p *Postgres) ForceUnlock(ctx context.Context, id string) error {
	row, pid, holderPID, err := p.readLock(ctx)
	if err != nil {
		return err
	}
	if row == nil || row.ID != id {
		holder, err := p.holder(ctx)
		switch {
		case err != nil:
			return err
		case holder == nil:
			return ErrNotLocked
		case holder.ID == id: // written meanwhile
			return p.ForceUnlock(ctx, id)
		default:
			return &WrongLockError{ID: id, Holder: *holder}
		}
	}
	if holderPID != 0 && holderPID == pid {
		var ended bool
		if err := p.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&ended); err != nil {
			return fmt.Errorf("force-unlock: ending the session of the lock holder (pid %d): %w", pid, err)
		}
		if !ended {
			return fmt.Errorf("force-unlock: the session of the lock holder (pid %d) did not end within 10s", pid)
		}
	}
	if _, err := p.pool.Exec(ctx, `DELETE FROM locks WHERE id = 1 AND lock_id = $1`, id); err != nil {
		return fmt.Errorf("force-unlock: %w", err)
	}
	return nil
}

const pgObjectCols = `address, kind, attrs, status, provider_id, updated_at`

func scanPGObject(sc pgx.Row) (Object, error) {
	var o Object
	var attrs []byte
	if err := sc.Scan(&o.Address, &o.Kind, &attrs, &o.Status, &o.ProviderID, &o.UpdatedAt); err != nil {
		return Object{}, err
	}
	a, err := decodeAttrs(o.Address, attrs)
	if err != nil {
		return Object{}, err
	}
	o.Attrs = a
	o.UpdatedAt = o.UpdatedAt.UTC()
	return o, nil
}

// Objects implements Backend.
func (p *Postgres) Objects(ctx context.Context) ([]Object, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+pgObjectCols+` FROM objects ORDER BY address`)
	if err != nil {
		return nil, fmt.Errorf("reading objects: %w", err)
	}
	defer rows.Close()
	var out []Object
	for rows.Next() {
		o, err := scanPGObject(rows)
		if err != nil {
			return nil, fmt.Errorf("reading objects: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading objects: %w", err)
	}
	return out, nil
}

// Object implements Backend.
func (p *Postgres) Object(ctx context.Context, address string) (*Object, error) {
	o, err := scanPGObject(p.pool.QueryRow(ctx, `SELECT `+pgObjectCols+` FROM objects WHERE address = $1`, address))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading object %s: %w", address, err)
	}
	return &o, nil
}

// WriteObjects implements Backend.
func (p *Postgres) WriteObjects(ctx context.Context, upsert []Object, remove []string) (Meta, error) {
	objs, attrs, err := prepObjects(upsert, p.now)
	if err != nil {
		return Meta{}, err
	}
	var m Meta
	err = pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if len(objs) > 0 {
			addr, kind, attr, status, pid := make([]string, len(objs)), make([]string, len(objs)), make([]string, len(objs)), make([]string, len(objs)), make([]string, len(objs))
			updated := make([]time.Time, len(objs))
			for i, o := range objs {
				addr[i], kind[i], attr[i], status[i], pid[i], updated[i] = o.Address, o.Kind, string(attrs[i]), o.Status, o.ProviderID, o.UpdatedAt
			}
			if _, err := tx.Exec(ctx, `INSERT INTO objects (`+pgObjectCols+`)
SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::text[], $6::timestamptz[])
ON CONFLICT (address) DO UPDATE SET kind = excluded.kind, attrs = excluded.attrs, status = excluded.status,
    provider_id = excluded.provider_id, updated_at = excluded.updated_at`,
				addr, kind, attr, status, pid, updated); err != nil {
				return err
			}
		}
		if len(remove) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM objects WHERE address = ANY($1::text[])`, remove); err != nil {
				return err
			}
		}
		return tx.QueryRow(ctx, `UPDATE meta SET serial = serial + 1 WHERE id = 1 RETURNING lineage, serial`).Scan(&m.Lineage, &m.Serial)
	})
	if err != nil {
		return Meta{}, fmt.Errorf("writing objects: %w", err)
	}
	return m, nil
}

var pgSendCols = []string{"key", "campaign", "variant", "customer_id", "channel", "provider", "status",
	"provider_message_id", "error", "due_at", "created_at", "updated_at"}

func pgTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// RecordSends implements Backend. Each pgTxRows rows are copied straight
// into the ledger when none of their keys is there yet, the usual case;
// otherwise they are copied into a temporary table and inserted from it,
// skipping the keys that are.
func (p *Postgres) RecordSends(ctx context.Context, sends []Send) error {
	rows, err := prepSends(sends, p.now)
	if err != nil {
		return err
	}
	for start := 0; start < len(rows); start += pgTxRows {
		batch := rows[start:min(start+pgTxRows, len(rows))]
		if err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error { return recordPG(ctx, tx, batch) }); err != nil {
			return fmt.Errorf("recording sends: %w", err)
		}
	}
	return nil
}

func recordPG(ctx context.Context, tx pgx.Tx, batch []Send) error {
	values := make([][]any, len(batch))
	seen := make(map[string]bool, len(batch))
	dup := false
	for i, r := range batch {
		values[i] = []any{r.Key, r.Campaign, r.Variant, r.CustomerID, r.Channel, r.Provider, r.Status,
			r.ProviderMessageID, r.Error, pgTime(r.DueAt), r.CreatedAt, r.UpdatedAt}
		if seen[r.Key] {
			dup = true
		}
		seen[r.Key] = true
	}
	if !dup {
		sp, err := tx.Begin(ctx) // a savepoint to come back to
		if err != nil {
			return err
		}
		_, err = sp.CopyFrom(ctx, pgx.Identifier{"sends"}, pgSendCols, pgx.CopyFromRows(values))
		if err == nil {
			return sp.Commit(ctx)
		}
		if !isUniqueViolation(err) {
			return err
		}
		if err := sp.Rollback(ctx); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE herald_sends_in (LIKE sends INCLUDING DEFAULTS, ord integer) ON COMMIT DROP`); err != nil {
		return err
	}
	cols := append(append([]string(nil), pgSendCols...), "ord")
	for i := range values {
		values[i] = append(values[i], i)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"herald_sends_in"}, cols, pgx.CopyFromRows(values)); err != nil {
		return err
	}
	// In ord order, so that of two rows with one key the first is kept.
	_, err := tx.Exec(ctx, `INSERT INTO sends (`+sendCols+`) SELECT `+sendCols+` FROM herald_sends_in ORDER BY ord ON CONFLICT (key) DO NOTHING`)
	return err
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// UpdateSends implements Backend.
func (p *Postgres) UpdateSends(ctx context.Context, sends []Send) error {
	rows, err := prepUpdates(sends, p.now)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	err = pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		for start := 0; start < len(rows); start += pgTxRows {
			batch := rows[start:min(start+pgTxRows, len(rows))]
			n := len(batch)
			key, status, pmid, msg := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			updated := make([]time.Time, n)
			for i, r := range batch {
				key[i], status[i], pmid[i], msg[i], updated[i] = r.Key, r.Status, r.ProviderMessageID, r.Error, r.UpdatedAt
			}
			tag, err := tx.Exec(ctx, `UPDATE sends AS s
SET status = u.status, provider_message_id = u.pmid, error = u.error, updated_at = u.updated_at,
    lease_owner = '', lease_until = NULL -- an update ends a ClaimDueSends lease
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u(key, status, pmid, error, updated_at)
WHERE s.key = u.key`, key, status, pmid, msg, updated)
			if err != nil {
				return err
			}
			if int(tag.RowsAffected()) != n {
				var missing string
				if err := tx.QueryRow(ctx, `SELECT u.key FROM unnest($1::text[]) WITH ORDINALITY AS u(key, ord)
WHERE NOT EXISTS (SELECT 1 FROM sends WHERE sends.key = u.key) ORDER BY u.ord LIMIT 1`, key).Scan(&missing); err != nil {
					return err
				}
				return fmt.Errorf("send %q: no such send in the ledger", missing)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("updating sends: %w", err)
	}
	return nil
}

// Sends implements Backend. It reads pageRows rows at a time, so no query
// is held open while fn runs.
func (p *Postgres) Sends(ctx context.Context, campaign string, fn func(Send) error) error {
	after := ""
	for {
		page, err := p.sendsPage(ctx, campaign, after)
		if err != nil {
			return fmt.Errorf("reading the ledger of %s: %w", campaign, err)
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < pageRows {
			return nil
		}
		after = page[len(page)-1].Key
	}
}

func (p *Postgres) sendsPage(ctx context.Context, campaign, after string) ([]Send, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+sendCols+` FROM sends WHERE campaign = $1 AND key > $2 ORDER BY key LIMIT $3`,
		campaign, after, pageRows)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	page := make([]Send, 0, pageRows)
	for rows.Next() {
		var r Send
		var due *time.Time
		if err := rows.Scan(&r.Key, &r.Campaign, &r.Variant, &r.CustomerID, &r.Channel, &r.Provider, &r.Status,
			&r.ProviderMessageID, &r.Error, &due, &r.CreatedAt, &r.UpdatedAt); err != nil {
			return nil, err
		}
		if due != nil {
			r.DueAt = due.UTC()
		}
		r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
		page = append(page, r)
	}
	return page, rows.Err()
}

// SendCounts implements Backend.
func (p *Postgres) SendCounts(ctx context.Context, channel string, since time.Time) (map[string]int, error) {
	// Two queries rather than "$1 = '' OR channel = $1", so that each gets
	// a plan that uses the (channel, created_at) index.
	q, args := `SELECT customer_id, COUNT(*) FROM sends
WHERE status IN ('sent', 'pending') AND created_at >= $1
GROUP BY customer_id`, []any{utc(since)}
	if channel != "" {
		q, args = `SELECT customer_id, COUNT(*) FROM sends
WHERE channel = $2 AND status IN ('sent', 'pending') AND created_at >= $1
GROUP BY customer_id`, append(args, channel)
	}
	rows, err := p.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("counting sends: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("counting sends: %w", err)
		}
		counts[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting sends: %w", err)
	}
	return counts, nil
}

// Suppressions implements Backend.
func (p *Postgres) Suppressions(ctx context.Context) ([]Suppression, error) {
	rows, err := p.pool.Query(ctx, `SELECT customer_id, channel, reason, created_at FROM suppressions ORDER BY customer_id, channel`)
	if err != nil {
		return nil, fmt.Errorf("reading suppressions: %w", err)
	}
	defer rows.Close()
	var out []Suppression
	for rows.Next() {
		var r Suppression
		if err := rows.Scan(&r.CustomerID, &r.Channel, &r.Reason, &r.CreatedAt); err != nil {
			return nil, fmt.Errorf("reading suppressions: %w", err)
		}
		r.CreatedAt = r.CreatedAt.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading suppressions: %w", err)
	}
	return out, nil
}

// AddSuppressions implements Backend.
func (p *Postgres) AddSuppressions(ctx context.Context, ss []Suppression) error {
	rows, err := prepSuppressions(ss, p.now)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	id, ch, reason := make([]string, n), make([]string, n), make([]string, n)
	created := make([]time.Time, n)
	for i, r := range rows {
		id[i], ch[i], reason[i], created[i] = r.CustomerID, r.Channel, r.Reason, r.CreatedAt
	}
	if _, err := p.pool.Exec(ctx, `INSERT INTO suppressions (customer_id, channel, reason, created_at)
SELECT id, ch, reason, created FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS u(id, ch, reason, created, ord)
ORDER BY ord
ON CONFLICT (customer_id, channel) DO NOTHING`, id, ch, reason, created); err != nil {
		return fmt.Errorf("adding suppressions: %w", err)
	}
	return nil
}

// AudienceMembers implements Backend.
func (p *Postgres) AudienceMembers(ctx context.Context, audience string, fn func(customerID string) error) error {
	after := ""
	for {
		rows, err := p.pool.Query(ctx, `SELECT customer_id FROM audience_members WHERE audience = $1 AND customer_id > $2 ORDER BY customer_id LIMIT $3`,
			audience, after, pageRows)
		if err != nil {
			return fmt.Errorf("reading the members of %s: %w", audience, err)
		}
		page, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("reading the members of %s: %w", audience, err)
		}
		for _, id := range page {
			if err := fn(id); err != nil {
				return err
			}
		}
		if len(page) < pageRows {
			return nil
		}
		after = page[len(page)-1]
	}
}

// SetAudienceMembers implements Backend. Removals are applied before
// additions, so an id in both lists ends up a member.
func (p *Postgres) SetAudienceMembers(ctx context.Context, audience string, add, remove []string) error {
	add, remove = sortedUnique(add), sortedUnique(remove)
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		for start := 0; start < len(remove); start += pgTxRows {
			ids := remove[start:min(start+pgTxRows, len(remove))]
			if _, err := tx.Exec(ctx, `DELETE FROM audience_members WHERE audience = $1 AND customer_id = ANY($2::text[])`, audience, ids); err != nil {
				return err
			}
		}
		for start := 0; start < len(add); start += pgTxRows {
			ids := add[start:min(start+pgTxRows, len(add))]
			if _, err := tx.Exec(ctx, `INSERT INTO audience_members (audience, customer_id)
SELECT $1, id FROM unnest($2::text[]) AS u(id) ON CONFLICT DO NOTHING`, audience, ids); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("updating the members of %s: %w", audience, err)
	}
	return nil
}

// Close implements Backend.
func (p *Postgres) Close() error {
	p.mu.Lock()
	unlocks := make([]func() error, 0, len(p.held))
	for _, u := range p.held {
		unlocks = append(unlocks, u)
	}
	p.mu.Unlock()
	p.closeLeaders()
	var errs []error
	for _, u := range unlocks {
		if err := u(); err != nil && !errors.Is(err, ErrLockLost) {
			errs = append(errs, err)
		}
	}
	p.pool.Close()
	return errors.Join(errs...)
}
