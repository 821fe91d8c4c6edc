package executor

import (
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldhq/herald/executor/inbound"
	"github.com/heraldhq/herald/executor/links"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/lang"
)

// Handler serves what a runner answers on -listen: the events endpoint
// (/v1/track, /v1/batch), the links in messages (/u/, /c/, /o/), health
// (/healthz, /readyz) and Prometheus metrics (/metrics).
func (r *Runner) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !r.Ready() {
			http.Error(w, "not ready: the state has not been read yet", http.StatusServiceUnavailable)
			return
		}
		if _, err := r.st.Meta(req.Context()); err != nil {
			http.Error(w, "not ready: the state cannot be read", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.m.reg, promhttp.HandlerOpts{}))
	events := &perConfig{r: r, make: r.eventsHandler}
	mux.Handle("/v1/", events)
	lk := &perConfig{r: r, make: r.linksHandler}
	for _, p := range []string{"/u/", "/c/", "/o/"} {
		mux.Handle(p, lk)
	}
	mux.Handle("/hooks/", &perConfig{r: r, make: r.hooksHandler})
	return mux
}

// perConfig serves with a handler made for the configuration in force,
// made again when an apply changes it.
type perConfig struct {
	r      *Runner
	make   func(rc *runConfig) (http.Handler, error)
	mu     sync.Mutex
	digest string
	h      http.Handler
}

func (p *perConfig) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rc := p.r.config()
	if rc == nil {
		http.Error(w, `{"error":"nothing has been applied yet"}`, http.StatusServiceUnavailable)
		return
	}
	p.mu.Lock()
	if p.h == nil || p.digest != rc.digest {
		h, err := p.make(rc)
		if err != nil {
			p.mu.Unlock()
			p.r.log.Error("serving "+req.URL.Path, "error", err)
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		p.h, p.digest = h, rc.digest
	}
	h := p.h
	p.mu.Unlock()
	h.ServeHTTP(w, req)
}

// eventsHandler is the Segment-compatible endpoint over the event sources
// of the applied triggers.
func (r *Runner) eventsHandler(rc *runConfig) (http.Handler, error) {
	var srcs []*lang.Source
	seen := map[string]bool{}
	for _, name := range lang.Sorted(rc.bySource) {
		if src := rc.cfg.Sources[name]; src != nil && !seen[name] {
			seen[name] = true
			srcs = append(srcs, src)
		}
	}
	key, _ := r.opts.LookupEnv("HERALD_WRITE_KEY")
	return inbound.NewSegmentHandler(inbound.SegmentOptions{
		Sources:  srcs,
		WriteKey: key,
		Sink:     r.sink,
		Known:    r.KnownCustomer,
		OnReject: func(reason string) { r.m.rejected.WithLabelValues("http", reason).Inc() },
		Now:      r.opts.Now,
		Logger:   r.log,
	}), nil
}

// sink hands events from an input to the triggers.
func (r *Runner) sink(ctx context.Context, evs []inbound.Event) error {
	now := r.opts.Now().UTC()
	tes := make([]TriggerEvent, len(evs))
	for i, e := range evs {
		tes[i] = TriggerEvent{Source: strings.TrimPrefix(e.Source, "source."), ID: e.ID, Type: e.Type,
			CustomerID: e.CustomerID, Time: e.Time, Record: e.Record, Arrived: now}
	}
	return r.Ingest(ctx, tes)
}

// linksHandler serves unsubscribe, click and open links.
func (r *Runner) linksHandler(rc *runConfig) (http.Handler, error) {
	key, err := r.key(context.Background(), rc.cfg)
	if err != nil {
		return nil, err
	}
	channelOf := links.ChannelOf(rc.cfg)
	unsub := links.UnsubscribeState(r.st, channelOf)
	return links.Handler(links.Options{
		Signer: links.NewSigner(key, r.opts.Now),
		Now:    r.opts.Now,
		Unsubscribe: func(ctx context.Context, customerID, campaign string) error {
			err := unsub(ctx, customerID, campaign)
			if err == nil {
				r.log.Info("unsubscribed", "customer", customerID, "campaign", campaign)
			}
			return err
		},
		Engage:    links.EngageState(r.st, channelOf),
		ChannelOf: channelOf,
		Name:      rc.cfg.Herald.Sender.Name,
		Logger:    r.log,
		OnRequest: func(route, outcome string) { r.m.links.WithLabelValues(route, outcome).Inc() },
	}), nil
}

// hooksHandler serves the providers' delivery-status, bounce, complaint
// and STOP webhooks, their signatures checked.
func (r *Runner) hooksHandler(rc *runConfig) (http.Handler, error) {
	return ingest.Handler(ingest.HandlerOptions{
		Config:      rc.cfg,
		State:       r.st,
		Now:         r.opts.Now,
		LookupPhone: func(ctx context.Context, phone string) (string, error) { return r.customerByPhone(ctx, rc, phone) },
		Logger:      r.log,
		OnRequest:   func(route, outcome string) { r.m.links.WithLabelValues("hooks_"+route, outcome).Inc() },
	}), nil
}

// customerByPhone finds the customer whose profile has a phone number, so
// that an incoming STOP suppresses them. Numbers compare by their digits.
func (r *Runner) customerByPhone(ctx context.Context, rc *runConfig, phone string) (string, error) {
	_, phoneF := piiFields(rc.cfg)
	if phoneF == "" {
		return "", nil
	}
	if _, err := r.profile(ctx, rc, ""); err != nil {
		return "", err
	}
	want := digits(phone)
	if want == "" {
		return "", nil
	}
	r.prof.mu.Lock()
	defer r.prof.mu.Unlock()
	for id, rec := range r.prof.byID {
		if digits(rec.String(phoneF)) == want {
			return id, nil
		}
	}
	return "", nil
}

func digits(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}
