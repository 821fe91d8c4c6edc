package providers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// The registry of source factories, filled by each provider package's init.
var sources struct {
	sync.RWMutex
	m map[string]SourceFactory
}

// RegisterSource makes a provider type readable as a source. It is called
// from the init function of the provider's package (providers/files,
// providers/postgres); import providers/all to get every one. Registering a
// type twice, or a nil factory, panics: it is a programming error.
func RegisterSource(providerType string, f SourceFactory) {
	if f == nil {
		panic("providers: RegisterSource(" + providerType + ", nil)")
	}
	sources.Lock()
	defer sources.Unlock()
	if _, dup := sources.m[providerType]; dup {
		panic("providers: source type " + providerType + " registered twice")
	}
	if sources.m == nil {
		sources.m = map[string]SourceFactory{}
	}
	sources.m[providerType] = f
}

// SourceTypes lists the registered source provider types in name order.
func SourceTypes() []string {
	sources.RLock()
	defer sources.RUnlock()
	names := make([]string, 0, len(sources.m))
	for n := range sources.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// OpenSource opens the source req describes with the factory registered for
// req.Provider.Type.
func OpenSource(ctx context.Context, req SourceRequest) (Source, error) {
	if req.Provider == nil {
		return nil, errors.New("providers: source request without a provider")
	}
	if req.Source == nil {
		return nil, errors.New("providers: source request without a source")
	}
	sources.RLock()
	f := sources.m[req.Provider.Type]
	sources.RUnlock()
	if f == nil {
		known := SourceTypes()
		hint := "no source provider type is registered (is providers/all imported?)"
		if len(known) > 0 {
			hint = "the source provider types are " + strings.Join(known, ", ")
		}
		return nil, fmt.Errorf("source.%s: provider %s cannot be read as a source: %s",
			req.Source.Name, req.Provider.Address(), hint)
	}
	return f(ctx, req)
}
