// Package inbound is how events get into `herald run`: a
// Segment-compatible HTTP endpoint (track and batch), a tailer of a files
// source's JSONL table, and a cursor poller of a postgres source's table.
// Each turns what it reads into Events typed by the source's schema and
// hands them to a Sink, the runner's consumer.
//
// Delivery is at least once: an offset (a byte position, a cursor value)
// is saved only after the Sink accepted the events before it, and an HTTP
// request whose events the Sink refused answers 503 so that the sender
// retries. Events therefore carry stable IDs, and the trigger engine
// dedupes by them. Ordering and lateness are the trigger engine's concern
// too: it orders events by Event.Time, not by arrival.
//
// Nothing here logs an event's property values, which may be personal
// data: logs carry counts, sources, files, offsets and ids.
package inbound
