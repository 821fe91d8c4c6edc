// Package state is where herald remembers what it did: the objects it
// manages (campaigns, segments, audiences, triggers, …) with their last
// applied attributes, the send ledger with an idempotency key per message,
// suppressions, and ad-audience membership.
//
// Two backends behave identically and are proven so by one test suite: an
// SQLite file (the embedded default, .herald/state.db) and PostgreSQL. Each
// carries a versioned schema, a lineage (an id made when the state is
// created) and a serial (bumped on every write of objects), and a lock that
// names its holder so that a second herald fails at once with who holds it.
//
// The state holds no personal data beyond customer ids: no e-mail
// addresses, phone numbers or names are ever written to it.
package state

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"
)

// Meta identifies a state and its version.
type Meta struct {
	// Lineage is a random id made when the state is created. A plan made
	// against one state cannot be applied to another.
	Lineage string
	// Serial is bumped by every WriteObjects; a new state has serial 0.
	Serial int64
}

// LockInfo names who holds the state lock.
type LockInfo struct {
	ID        string    // random; what force-unlock takes
	Who       string    // user@host
	Operation string    // plan, apply, run, …
	Created   time.Time // UTC
}

// NewLockInfo describes a lock about to be taken by this process for
// operation: a random ID, user@host, and now.
func NewLockInfo(operation string) LockInfo {
	return LockInfo{ID: newID(), Who: whoAmI(), Operation: operation, Created: time.Now().UTC()}
}

// LockedError is returned by Lock when another holder has the lock.
type LockedError struct {
	Holder LockInfo
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h.ID == "" {
		// A PostgreSQL holder caught between taking the lock and saying
		// who it is.
		return fmt.Sprintf("state is locked by %s; try again in a moment", orUnknown(h.Who))
	}
	return fmt.Sprintf("state is locked by %s for %s since %s (lock ID %s); if that process is gone, run: herald force-unlock %s",
		orUnknown(h.Who), orUnknown(h.Operation), h.Created.UTC().Format(time.RFC3339), h.ID, h.ID)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// ErrNotLocked is returned by ForceUnlock when the state is not locked at
// all. When it is locked under another ID, ForceUnlock returns a
// *WrongLockError.
var ErrNotLocked = errors.New("state is not locked")

// WrongLockError is returned by ForceUnlock when the state is locked, but
// not under the ID given.
type WrongLockError struct {
	ID     string
	Holder LockInfo
}

func (e *WrongLockError) Error() string {
	if e.Holder.ID == "" {
		return fmt.Sprintf("lock ID %s is not the current lock: the state is locked by %s", e.ID, orUnknown(e.Holder.Who))
	}
	return fmt.Sprintf("lock ID %s is not the current lock: the state is locked by %s for %s since %s under lock ID %s",
		e.ID, orUnknown(e.Holder.Who), orUnknown(e.Holder.Operation), e.Holder.Created.UTC().Format(time.RFC3339), e.Holder.ID)
}

// ErrLockLost is returned by an unlock function when the lock was taken
// away while held (herald force-unlock).
var ErrLockLost = errors.New("the state lock was lost while held (was it force-unlocked?)")

// ErrNoState is returned by OpenExisting when there is no state yet.
var ErrNoState = errors.New("no state yet")

// SchemaTooNewError is returned when a state was written by a newer herald,
// whose schema this one does not know.
type SchemaTooNewError struct {
	Where          string // the file or database
	Version, Known int
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("the state in %s has schema version %d, but this herald knows versions up to %d: it was written by a newer herald; upgrade herald to use it",
		e.Where, e.Version, e.Known)
}

// Object is one thing herald manages, as last applied.
type Object struct {
	Address    string            // "campaign.winback_dec", "segment.x", "provider.smtp.main", …
	Kind       string            // campaign, segment, audience, trigger, template, provider, …
	Attrs      map[string]string // canonical attribute values, for attribute-level diffs
	Status     string            // "" | "active" | "sending" | "sent" | "paused" | "cancelled"
	ProviderID string            // platform-side id (ad audiences)
	UpdatedAt  time.Time         // UTC; WriteObjects sets it to now when zero
}

// Send statuses.
const (
	SendPlanned  = "planned"
	SendPending  = "pending"
	SendSent     = "sent"
	SendFailed   = "failed"
	SendSkipped  = "skipped"
	SendDeferred = "deferred"
)

// Send is one row of the send ledger.
type Send struct {
	// Key is the idempotency key, unique in the ledger. The writer chooses
	// keys that sort in insertion order: Sends streams by key.
	Key               string
	Campaign          string // address of the campaign or trigger
	Variant           string
	CustomerID        string
	Channel           string
	Provider          string
	Status            string // planned | pending | sent | failed | skipped | deferred
	ProviderMessageID string
	Error             string
	// DueAt is when the message should go out; zero for "now". CreatedAt
	// and UpdatedAt are set to now when zero. All are stored in UTC at
	// microsecond precision.
	DueAt, CreatedAt, UpdatedAt time.Time
}

// Suppression keeps a customer from being messaged on a channel.
type Suppression struct {
	CustomerID string
	Channel    string // "" means every channel
	Reason     string // bounce, complaint, erasure, unsubscribe, stop
	CreatedAt  time.Time
}

// Backend is a herald state. Every method is safe for concurrent use.
type Backend interface {
	// Meta returns the state's lineage and serial.
	Meta(ctx context.Context) (Meta, error)

	// Lock takes the state lock for info (see NewLockInfo; an empty ID,
	// Who or Created is filled in). It does not wait: when the lock is
	// held, by this process or another, it fails at once with a
	// *LockedError naming the holder. unlock releases it and returns
	// ErrLockLost when the lock was force-unlocked meanwhile.
	Lock(ctx context.Context, info LockInfo) (unlock func() error, err error)
	// LockHolder returns who holds the lock, or nil when it is free.
	LockHolder(ctx context.Context) (*LockInfo, error)
	// ForceUnlock releases the lock held under id by someone else, for
	// when that process is gone. It returns ErrNotLocked, or a
	// *WrongLockError when the lock is held under another id.
	ForceUnlock(ctx context.Context, id string) error

	// Objects returns every object, sorted by address.
	Objects(ctx context.Context) ([]Object, error)
	// Object returns one object, or nil, nil when there is none.
	Object(ctx context.Context, address string) (*Object, error)
	// WriteObjects upserts and removes objects in one transaction, bumps
	// the serial and returns the new Meta.
	WriteObjects(ctx context.Context, upsert []Object, remove []string) (Meta, error)

	// RecordSends inserts ledger rows in batches. A row whose key is
	// already in the ledger (or earlier in sends) is left as it is, so
	// recording twice is harmless.
	RecordSends(ctx context.Context, sends []Send) error
	// UpdateSends sets Status, ProviderMessageID, Error and UpdatedAt of
	// the ledger rows with the given keys, in one transaction; it fails
	// and changes nothing when a key is not in the ledger.
	UpdateSends(ctx context.Context, sends []Send) error
	// Sends calls fn with each ledger row of a campaign (or trigger), in
	// key order, until fn returns an error, which Sends returns. fn may
	// call other methods, including UpdateSends.
	Sends(ctx context.Context, campaign string, fn func(Send) error) error
	// SendsByKey returns the ledger rows with the given keys; keys not in
	// the ledger are absent from the map.
	SendsByKey(ctx context.Context, keys []string) (map[string]Send, error)
	// SendCounts counts, per customer, the sends on channel ("" for every
	// channel) with status sent or pending created at or after since: what
	// frequency caps count.
	SendCounts(ctx context.Context, channel string, since time.Time) (map[string]int, error)

	// Suppressions returns every suppression, by customer and channel.
	Suppressions(ctx context.Context) ([]Suppression, error)
	// AddSuppressions adds suppressions; one already there for the same
	// customer and channel is kept as it is.
	AddSuppressions(ctx context.Context, s []Suppression) error

	// AudienceMembers calls fn with each customer id in an ad audience, in
	// id order.
	AudienceMembers(ctx context.Context, audience string, fn func(customerID string) error) error
	// SetAudienceMembers adds and removes members of an ad audience in one
	// transaction. Adding a member twice is harmless.
	SetAudienceMembers(ctx context.Context, audience string, add, remove []string) error

	Runtime

	// Close releases any lock this Backend holds and closes it.
	Close() error
}

// newID returns a random UUID (version 4).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// whoAmI is user@host for lock holders.
func whoAmI() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return name + "@" + host
}

// fillLock completes a LockInfo given to Lock.
func fillLock(info LockInfo, now time.Time) LockInfo {
	if info.ID == "" {
		info.ID = newID()
	}
	if info.Who == "" {
		info.Who = whoAmI()
	}
	if info.Created.IsZero() {
		info.Created = now
	}
	info.Created = utc(info.Created)
	return info
}

// utc is t in UTC at the microsecond precision both backends keep.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// orNow is t, or now when t is zero, in UTC.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return utc(now)
	}
	return utc(t)
}

// Batch sizes: rows per transaction when writing the ledger.
const (
	sqliteTxRows = 1000
	// sqliteStmtRows rows go in one multi-row INSERT: 12 columns × 100
	// stays far below SQLite's limit of 32766 bound variables.
	sqliteStmtRows = 100
	pgTxRows       = 10000
	// pageRows is how many rows Sends and AudienceMembers read at a time.
	pageRows = 1000
)
