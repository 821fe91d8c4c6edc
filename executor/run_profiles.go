package executor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

// profileCache holds the customers' current profiles, re-read every
// ProfileRefresh: exit_when, step conditions and templates see a profile
// at most that old. It holds every customer of the profile source in
// memory, which the runner's documentation states as its limit.
type profileCache struct {
	load      sync.Mutex // one read of the source at a time
	mu        sync.Mutex // guards the fields below
	digest    string
	loaded    time.Time
	reloading bool
	src       string
	byID      map[string]*providers.Record
}

// customerSource is where profiles come from: the source a segment reads
// customers from, or any source of the customer schema.
func customerSource(cfg *lang.Config) *lang.Source {
	if cfg.CustomerSchema == nil {
		return nil
	}
	for _, name := range lang.Sorted(cfg.Segments) {
		if s := cfg.Segments[name]; s.From != nil && s.From.Schema == cfg.CustomerSchema {
			return s.From
		}
	}
	for _, name := range lang.Sorted(cfg.Sources) {
		if s := cfg.Sources[name]; s.Schema == cfg.CustomerSchema {
			return s
		}
	}
	return nil
}

// profile returns a customer's profile, or nil when the customer is not
// in the profile source. Only the first read waits for the source; later
// ones are made in the background while the profiles read last serve, so
// that a re-read never holds events up.
func (r *Runner) profile(ctx context.Context, rc *runConfig, id string) (*providers.Record, error) {
	pc := &r.prof
	pc.mu.Lock()
	now := r.opts.Now()
	if pc.byID == nil || pc.digest != rc.digest {
		pc.mu.Unlock()
		pc.load.Lock()
		defer pc.load.Unlock()
		pc.mu.Lock()
		if pc.byID == nil || pc.digest != rc.digest {
			pc.mu.Unlock()
			byID, err := r.loadProfiles(ctx, rc)
			pc.mu.Lock()
			if err != nil {
				pc.mu.Unlock()
				return nil, err
			}
			pc.byID, pc.digest, pc.loaded = byID, rc.digest, now
		}
	} else if (now.Sub(pc.loaded) >= r.opts.ProfileRefresh || now.Before(pc.loaded)) && !pc.reloading {
		pc.reloading = true
		go r.reloadProfiles(context.WithoutCancel(ctx), rc, now)
	}
	p := pc.byID[id]
	pc.mu.Unlock()
	return p, nil
}

// reloadProfiles re-reads the profiles in the background.
func (r *Runner) reloadProfiles(ctx context.Context, rc *runConfig, now time.Time) {
	pc := &r.prof
	pc.load.Lock()
	defer pc.load.Unlock()
	byID, err := r.loadProfiles(ctx, rc)
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.reloading = false
	pc.loaded = now
	if err != nil {
		// Serve the profiles read last rather than stop.
		r.log.Error("re-reading customer profiles", "source", pc.src, "error", err)
		return
	}
	if pc.digest == rc.digest {
		pc.byID = byID
	}
}

// loadProfiles reads every profile of the customer source.
func (r *Runner) loadProfiles(ctx context.Context, rc *runConfig) (map[string]*providers.Record, error) {
	pc := &r.prof
	src := customerSource(rc.cfg)
	if src == nil {
		return map[string]*providers.Record{}, nil
	}
	pc.mu.Lock()
	pc.src = "source." + src.Name
	pc.mu.Unlock()
	lay := providers.NewLayout(src.Schema)
	key := src.Key
	if key == "" {
		key = "id"
	}
	ki := lay.Index(key)
	if ki < 0 {
		return nil, fmt.Errorf("source.%s has no key field %q", src.Name, key)
	}
	s, err := providers.OpenSource(ctx, providers.SourceRequest{Dir: rc.cfg.Dir, Provider: src.From, Source: src, Layout: lay})
	if err != nil {
		return nil, fmt.Errorf("reading source.%s: %w", src.Name, err)
	}
	defer s.Close()
	byID := map[string]*providers.Record{}
	if _, err := s.Scan(ctx, 0, func(batch []providers.Record) error {
		for i := range batch {
			id, _ := batch[i].Values[ki].(string)
			if id == "" {
				if v := batch[i].Values[ki]; v != nil {
					id = fmt.Sprint(v)
				}
			}
			if id != "" {
				rec := recordOf(&batch[i])
				for j, v := range rec.Values {
					if s, ok := v.(string); ok {
						rec.Values[j] = strings.Clone(s)
					}
				}
				byID[strings.Clone(id)] = rec
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading source.%s: %w", src.Name, err)
	}
	return byID, nil
}

// KnownCustomer reports whether id is in the profile source: the events
// endpoint refuses events of unknown customers.
func (r *Runner) KnownCustomer(ctx context.Context, id string) (bool, error) {
	rc := r.config()
	if rc == nil {
		return false, nil
	}
	p, err := r.profile(ctx, rc, id)
	return p != nil, err
}
