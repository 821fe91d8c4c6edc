package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/heraldhq/herald/lang"
)

// Message is one rendered message to one recipient. It carries only what
// the provider needs to deliver it: the address or number it goes to, not
// the customer's profile.
type Message struct {
	// IdempotencyKey is stable across retries and resumes; providers that
	// accept one pass it on, so a retried request is not a second send.
	IdempotencyKey string
	Campaign       string // address: campaign.x or trigger.y
	Variant        string
	CustomerID     string
	Channel        string // email, sms, webhook

	To       string // e-mail address or E.164 phone number
	From     string // sender e-mail address or number
	FromName string
	ReplyTo  string

	Subject string // email
	HTML    string // email
	Text    string // email (plain part) or sms body
	// Payload is the JSON body of a webhook message.
	Payload json.RawMessage
	// Headers are extra e-mail headers: List-Unsubscribe and
	// List-Unsubscribe-Post on marketing mail.
	Headers map[string]string
}

// Outcome is what became of a send.
type Outcome int

// The outcomes.
const (
	// Sent: the provider accepted the message.
	Sent Outcome = iota
	// Retry: a transient failure (429, 5xx, timeout); try again later,
	// after RetryAfter when the provider said.
	Retry
	// Failed: a permanent failure; do not retry.
	Failed
	// Suppress: a permanent failure that means the recipient must not be
	// messaged again on this channel (hard bounce, unsubscribed number,
	// complaint): record a suppression too.
	Suppress
)

func (o Outcome) String() string {
	switch o {
	case Sent:
		return "sent"
	case Retry:
		return "retry"
	case Failed:
		return "failed"
	case Suppress:
		return "suppress"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// SendResult is a provider's answer to one send.
type SendResult struct {
	Outcome           Outcome
	ProviderMessageID string
	// Err says what went wrong for every outcome but Sent. It must not
	// contain credentials.
	Err error
	// RetryAfter is how long the provider asked to wait (Retry-After).
	RetryAfter time.Duration
	// SuppressReason is bounce, complaint, unsubscribe or stop, with
	// Suppress.
	SuppressReason string
}

// Channel sends messages. Implementations are safe for concurrent use.
type Channel interface {
	Send(ctx context.Context, m *Message) SendResult
	Close() error
}

// ChannelRequest is everything needed to open a channel provider.
type ChannelRequest struct {
	Dir      string         // project directory
	Provider *lang.Provider // the provider block, attributes evaluated
	// LookupEnv reads credentials; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// ChannelFactory opens a channel of one provider type.
type ChannelFactory func(ctx context.Context, req ChannelRequest) (Channel, error)

var (
	channelMu        sync.RWMutex
	channelFactories = map[string]ChannelFactory{}
)

// RegisterChannel makes a channel provider type available to OpenChannel.
func RegisterChannel(providerType string, f ChannelFactory) {
	channelMu.Lock()
	defer channelMu.Unlock()
	channelFactories[providerType] = f
}

// OpenChannel opens the channel of req.Provider's type.
func OpenChannel(ctx context.Context, req ChannelRequest) (Channel, error) {
	if req.Provider == nil {
		return nil, fmt.Errorf("no provider")
	}
	channelMu.RLock()
	f := channelFactories[req.Provider.Type]
	channelMu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("provider type %q cannot send messages in this version of herald (channel providers: %v)", req.Provider.Type, ChannelTypes())
	}
	return f(ctx, req)
}

// ChannelTypes lists the registered channel provider types.
func ChannelTypes() []string {
	channelMu.RLock()
	defer channelMu.RUnlock()
	var out []string
	for t := range channelFactories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
