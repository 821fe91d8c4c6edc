package executor

import (
	"context"
	"strings"
	"time"

	"github.com/heraldhq/herald/executor/inbound"
	"github.com/heraldhq/herald/lang"
)

// eventInputs returns the pollers of the event sources of the applied
// triggers, made again when an apply changes them. Only the leading
// runner polls them, so one offset per source is enough.
func (r *Runner) eventInputs(ctx context.Context) (map[string]EventInput, error) {
	rc := r.config()
	if rc == nil {
		return nil, nil
	}
	r.inMu.Lock()
	defer r.inMu.Unlock()
	dig := rc.digest + "|" + strings.Join(lang.Sorted(rc.bySource), ",")
	if r.inDig == dig {
		return r.inputs, nil
	}
	inputs := map[string]EventInput{}
	for _, name := range lang.Sorted(rc.bySource) {
		src := rc.cfg.Sources[name]
		if src == nil || src.From == nil {
			continue
		}
		// A bounded backfill reads history back to the longest any of the
		// source's triggers asks for; without one only new events count.
		var since time.Time
		for _, rt := range rc.bySource[name] {
			if b := rt.t.Backfill; b > 0 {
				if s := r.opts.Now().Add(-b); since.IsZero() || s.Before(since) {
					since = s
				}
			}
		}
		reject := func(reason string) { r.m.rejected.WithLabelValues(name, reason).Inc() }
		switch src.From.Type {
		case "files":
			t, err := inbound.NewTailer(inbound.TailerOptions{Dir: rc.cfg.Dir, Source: src, Sink: r.sink, Offsets: r.st,
				Since: since, OnReject: reject, Logger: r.log})
			if err != nil {
				return nil, err
			}
			inputs[name] = t
		case "postgres":
			p, err := inbound.NewCursorPoller(ctx, inbound.CursorPollerOptions{Source: src, Sink: r.sink, Offsets: r.st,
				Since: since, OnReject: reject, Logger: r.log})
			if err != nil {
				return nil, err
			}
			inputs[name] = p
		default:
			r.log.Warn("events of this source type are not read by herald run; send them to /v1/track", "source", "source."+name, "type", src.From.Type)
		}
	}
	r.closeInputs()
	r.inputs, r.inDig = inputs, dig
	return inputs, nil
}

// closeInputs releases the connections of cursor pollers; called with
// inMu held.
func (r *Runner) closeInputs() {
	for _, in := range r.inputs {
		if c, ok := in.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
	r.inputs = map[string]EventInput{}
}

// Close releases what the runner holds: event source connections. The
// state is the caller's to close.
func (r *Runner) Close() {
	r.inMu.Lock()
	defer r.inMu.Unlock()
	r.closeInputs()
	r.inDig = ""
}
