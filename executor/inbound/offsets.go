package inbound

import "context"

// Offsets keeps how far a tailer or poller has read, across restarts. The
// state backend (state.Runtime) satisfies it.
type Offsets interface {
	// Value returns the value stored under key, or nil, false when there
	// is none.
	Value(ctx context.Context, key string) ([]byte, bool, error)
	// PutValue stores value under key, replacing what was there.
	PutValue(ctx context.Context, key string, value []byte) error
}

// OffsetKey is the key a source's read position is kept under:
// "offset/source.NAME/TABLE", TABLE being the file of a files source, or
// the table ("query" for a query) of a postgres source.
func OffsetKey(source, table string) string { return "offset/source." + source + "/" + table }
