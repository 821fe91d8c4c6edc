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

// Inspector is an Audience that can read its platform audience: what a
// later plan compares with the state to show drift. Plan calls it once per
// audience, so an implementation makes one request.
type Inspector interface {
	// Inspect tells whether the platform audience id still exists and,
	// when the platform says, how many members it holds (-1 when it does
	// not say). An audience that is gone is not an error.
	Inspect(ctx context.Context, id string) (exists bool, size int64, err error)
}

// Deleter is an Audience that can remove its platform audience when the
// audience block is deleted. What it does (deletes the list, or only
// detaches herald from it) is said by AudienceDeletion.
type Deleter interface {
	// Delete removes the platform audience id. An audience that is
	// already gone is not an error: the state may be behind the platform.
	Delete(ctx context.Context, id string) error
}

// Warner is an Audience that has something to say after a sync that is
// not a failure, such as a platform job still running when herald
// stopped waiting for it. Warnings returns them and forgets them.
type Warner interface {
	Warnings() []string
}

// AudienceFactory opens an audience provider of one type.
type AudienceFactory func(ctx context.Context, req AudienceRequest) (Audience, error)

var (
	audienceMu        sync.RWMutex
	audienceFactories = map[string]AudienceFactory{}
	audienceDeletions = map[string]string{}
)

// RegisterAudienceDeletion records, for the plan, what deleting an
// audience of providerType does on its platform ("removes the Customer
// Match user list on Google Ads"). The plan says it without opening the
// provider, so it needs no credentials.
func RegisterAudienceDeletion(providerType, what string) {
	audienceMu.Lock()
	defer audienceMu.Unlock()
	audienceDeletions[providerType] = what
}

// AudienceDeletion is what deleting an audience of providerType does on
// its platform, or "" when the type registered nothing.
func AudienceDeletion(providerType string) string {
	audienceMu.RLock()
	defer audienceMu.RUnlock()
	return audienceDeletions[providerType]
}

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
