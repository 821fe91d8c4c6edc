package inbound

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/heraldhq/herald/lang"
)

// project is a herald project with event sources of the shape triggers
// use: "events" (files, key id) and "clicks" (files, no id field).
const project = `
provider "files" "cdp" {
  dir = "data"
}

schema "event" {
  field "id"          { type = string }
  field "customer_id" { type = string }
  field "type"        { type = string }
  field "path"        { type = string }
  field "at"          { type = timestamp }
  field "amount"      { type = double }
  field "qty"         { type = int }
  field "tags"        { type = list(string) }
}

schema "click" {
  field "user"   { type = string }
  field "kind"   { type = string }
  field "when"   { type = timestamp }
  field "n"      { type = int }
}

source "events" {
  from   = provider.files.cdp
  table  = "events.jsonl"
  schema = schema.event
  key    = "id"
}

source "clicks" {
  from           = provider.files.cdp
  table          = "clicks.jsonl"
  schema         = schema.click
  customer_field = "user"
  time_field     = "when"
  type_field     = "kind"
}
`

// loadSources loads the project (with extra HCL) and returns its sources.
func loadSources(t testing.TB, extra string) map[string]*lang.Source {
	t.Helper()
	cfg, diags := lang.LoadFS(fstest.MapFS{"main.hcl": {Data: []byte(project + extra)}}, ".", lang.Options{})
	if diags.HasErrors() {
		t.Fatalf("loading the project: %v", diags)
	}
	return cfg.Sources
}

// sinkRecorder is a Sink that keeps what it accepted, or fails.
type sinkRecorder struct {
	mu   sync.Mutex
	evs  []Event
	fail error
	n    int // calls
}

func (s *sinkRecorder) sink(ctx context.Context, evs []Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.fail != nil {
		return s.fail
	}
	s.evs = append(s.evs, evs...)
	return nil
}

func (s *sinkRecorder) events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.evs...)
}

// rejects counts OnReject calls by reason.
type rejects struct {
	mu sync.Mutex
	m  map[string]int
}

func (r *rejects) on(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]int{}
	}
	r.m[reason]++
}

func (r *rejects) get() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.m {
		out[k] = v
	}
	return out
}
