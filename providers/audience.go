package providers

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/heraldhq/herald/lang"
)

// Member is a customer as an ad audience sees them: the raw identifiers the
// audience matches on. The provider normalises and hashes them as its
// platform documents; nothing else about the customer leaves herald.
type Member struct {
	CustomerID string
	Email      string // "" when not matched on or unknown
	Phone      string // "" when not matched on or unknown
}

// AudienceRequest is everything needed to open an audience provider.
type AudienceRequest struct {
	Dir      string
	Provider *lang.Provider
	Audience *lang.Audience
}

// Audience keeps one platform audience (a Customer Match list, a Custom
// Audience, a DMP segment, a Mailchimp tag) in step with a segment.
// Implementations are safe for concurrent use.
type Audience interface {
	// Ensure returns the platform id of the audience, creating it when id
	// is "" (the state has none yet).
	Ensure(ctx context.Context, name, id string) (string, error)
	// Add and Remove change the membership; the caller batches members by
	// BatchSize.
	Add(ctx context.Context, id string, members []Member) error
	Remove(ctx context.Context, id string, members []Member) error
	// BatchSize is the largest batch the platform documents.
	BatchSize() int
	Close() error
}

// AudienceFactory opens an audience provider of one type.
type AudienceFactory func(ctx context.Context, req AudienceRequest) (Audience, error)

var (
	audienceMu        sync.RWMutex
	audienceFactories = map[string]AudienceFactory{}
)

// RegisterAudience makes an audience provider type available to
// OpenAudience. Registering a type twice is a programming error.
func RegisterAudience(providerType string, f AudienceFactory) {
	audienceMu.Lock()
	defer audienceMu.Unlock()
	if _, dup := audienceFactories[providerType]; dup {
		panic("providers: audience type " + providerType + " registered twice")
	}
	audienceFactories[providerType] = f
}

// OpenAudience opens the audience provider of req.Provider's type.
func OpenAudience(ctx context.Context, req AudienceRequest) (Audience, error) {
	if req.Provider == nil {
		return nil, fmt.Errorf("no provider")
	}
	audienceMu.RLock()
	f := audienceFactories[req.Provider.Type]
	audienceMu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("provider type %q cannot hold an audience in this version of herald (audience providers: %v)", req.Provider.Type, AudienceTypes())
	}
	return f(ctx, req)
}

// AudienceTypes lists the registered audience provider types.
func AudienceTypes() []string {
	audienceMu.RLock()
	defer audienceMu.RUnlock()
	var out []string
	for t := range audienceFactories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
