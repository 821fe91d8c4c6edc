package providers

import "context"

// BufferedChannel is a Channel that can hold messages in memory and hand
// them on in bulk, which for a local writer such as the outbox saves a
// system call per message.
//
// SendBuffered is Send, except that a message it answers Sent may still be
// held: it counts as delivered only once Flush returns nil. A caller that
// records outcomes writes those of buffered sends only after a Flush, so
// that a crash before it leaves them pending, to be sent again under the
// same idempotency key. Only providers that honour idempotency keys should
// implement it. Close flushes.
type BufferedChannel interface {
	Channel
	SendBuffered(ctx context.Context, m *Message) SendResult
	// Flush hands on what SendBuffered holds. An error means that some
	// messages answered Sent were not delivered.
	Flush() error
}
