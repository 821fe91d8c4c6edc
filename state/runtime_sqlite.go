package state

import (
	"context"
	"errors"
	"time"
)

// Placeholder until the runtime is written for this backend.

// Value implements Runtime.
func (s *SQLite) Value(ctx context.Context, key string) ([]byte, bool, error) {
	return nil, false, errors.ErrUnsupported
}

// PutValue implements Runtime.
func (s *SQLite) PutValue(ctx context.Context, key string, value []byte) error {
	return errors.ErrUnsupported
}

// PutValueIfAbsent implements Runtime.
func (s *SQLite) PutValueIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error) {
	return nil, errors.ErrUnsupported
}

// MarkSeen implements Runtime.
func (s *SQLite) MarkSeen(ctx context.Context, trigger, key, eventID string, at time.Time) (bool, error) {
	return false, errors.ErrUnsupported
}

// AddWindowEvent implements Runtime.
func (s *SQLite) AddWindowEvent(ctx context.Context, e WindowEvent, since time.Time) (int, error) {
	return 0, errors.ErrUnsupported
}

// ClearWindow implements Runtime.
func (s *SQLite) ClearWindow(ctx context.Context, trigger, customerID string, upTo time.Time) error {
	return errors.ErrUnsupported
}

// PruneRuntime implements Runtime.
func (s *SQLite) PruneRuntime(ctx context.Context, trigger string, before time.Time) error {
	return errors.ErrUnsupported
}

// StartJourney implements Runtime.
func (s *SQLite) StartJourney(ctx context.Context, j Journey, first Timer, notBefore time.Time) (bool, error) {
	return false, errors.ErrUnsupported
}

// Journey implements Runtime.
func (s *SQLite) Journey(ctx context.Context, id string) (*Journey, error) {
	return nil, errors.ErrUnsupported
}

// Journeys implements Runtime.
func (s *SQLite) Journeys(ctx context.Context, f JourneyFilter, fn func(Journey) error) error {
	return errors.ErrUnsupported
}

// JourneyCounts implements Runtime.
func (s *SQLite) JourneyCounts(ctx context.Context, now time.Time) ([]JourneyCount, error) {
	return nil, errors.ErrUnsupported
}

// ExitJourney implements Runtime.
func (s *SQLite) ExitJourney(ctx context.Context, id, reason string, at time.Time) (bool, error) {
	return false, errors.ErrUnsupported
}

// ClaimTimers implements Runtime.
func (s *SQLite) ClaimTimers(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Timer, error) {
	return nil, errors.ErrUnsupported
}

// AdvanceJourney implements Runtime.
func (s *SQLite) AdvanceJourney(ctx context.Context, id string, step int, next *Timer, at time.Time) (bool, error) {
	return false, errors.ErrUnsupported
}

// ClaimDueSends implements Runtime.
func (s *SQLite) ClaimDueSends(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Send, error) {
	return nil, errors.ErrUnsupported
}

// Lead implements Runtime.
func (s *SQLite) Lead(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	return false, errors.ErrUnsupported
}

// Resign implements Runtime.
func (s *SQLite) Resign(ctx context.Context, name, owner string) error {
	return errors.ErrUnsupported
}

// AddAudit implements Runtime.
func (s *SQLite) AddAudit(ctx context.Context, recs []AuditRecord) error {
	return errors.ErrUnsupported
}

// Audit implements Runtime.
func (s *SQLite) Audit(ctx context.Context, customerID string, fn func(AuditRecord) error) error {
	return errors.ErrUnsupported
}
