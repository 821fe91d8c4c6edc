package inbound

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/heraldhq/herald/lang"
)

// Segment's documented limits: 32 KB per message and 500 KB per batch
// request.
const (
	DefaultMaxEventBytes = 32 << 10
	DefaultMaxBatchBytes = 500 << 10
)

// maxReportedErrors bounds the per-message errors a batch response lists;
// the counts stay exact.
const maxReportedErrors = 100

// SegmentOptions configure the Segment-compatible endpoint.
type SegmentOptions struct {
	// Sources are the event sources the endpoint feeds. With exactly one
	// every request goes to it; with several a request names its source
	// with ?source=NAME ("events" or "source.events").
	Sources []*lang.Source
	// WriteKey is the key senders use as the basic-auth username, with an
	// empty password, as Segment's libraries do. The runner reads it from
	// HERALD_WRITE_KEY. When it is empty every request is refused (401):
	// an endpoint that takes events from anyone is never the default.
	WriteKey string
	// Sink takes the accepted events of a request, all at once.
	Sink Sink
	// Known, when set, says whether a customer exists; events of unknown
	// customers are rejected (422). An error answers 503.
	Known func(ctx context.Context, customerID string) (bool, error)
	// OnReject, when set, is called once per rejected event or request
	// with one of the Reason constants, for metrics.
	OnReject func(reason string)
	// Now is the clock for events without a timestamp; time.Now when nil.
	Now func() time.Time
	// MaxEventBytes and MaxBatchBytes limit the size of one message and of
	// a request body; DefaultMaxEventBytes and DefaultMaxBatchBytes when 0.
	MaxEventBytes int64
	MaxBatchBytes int64
	// Logger gets a line per refused request and per Sink failure, with
	// counts and ids but never property values; slog.Default when nil.
	Logger *slog.Logger
}

// segmentHandler serves POST /v1/track and POST /v1/batch.
type segmentHandler struct {
	opts    SegmentOptions
	sources map[string]*segSource // by "NAME" and "source.NAME"
	only    *segSource            // the source when there is one
	names   []string              // for messages
	log     *slog.Logger
}

// segSource is one source the endpoint feeds; err says why it cannot take
// events (no schema…), checked once rather than per request.
type segSource struct {
	dec segDecoder
	err error
}

// NewSegmentHandler returns an http.Handler for Segment's HTTP Tracking
// API: POST /v1/track takes one track message, POST /v1/batch a list of
// them (messages of other types in a batch are ignored). See
// docs/events.md for the mapping onto the event schema and the responses.
func NewSegmentHandler(opts SegmentOptions) http.Handler {
	if opts.MaxEventBytes <= 0 {
		opts.MaxEventBytes = DefaultMaxEventBytes
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &segmentHandler{opts: opts, sources: map[string]*segSource{}, log: opts.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	for _, src := range opts.Sources {
		if src == nil || h.sources[src.Name] != nil {
			continue
		}
		es, err := newEventSchema(src)
		s := &segSource{dec: segDecoder{es: es, maxEvent: int(opts.MaxEventBytes)}, err: err}
		h.sources[src.Name] = s
		h.sources["source."+src.Name] = s
		h.names = append(h.names, src.Name)
		h.only = s
	}
	if len(h.names) != 1 {
		h.only = nil
	}
	sort.Strings(h.names)
	return h
}

func (h *segmentHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var batch bool
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/v1/track":
	case "/v1/batch":
		batch = true
	default:
		h.refuse(w, http.StatusNotFound, ReasonBadRequest, "no such endpoint: herald takes POST /v1/track and POST /v1/batch")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, http.StatusMethodNotAllowed, ReasonBadRequest, r.Method+" is not allowed: send events with POST")
		return
	}
	if msg := h.authorize(r); msg != "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="herald"`)
		h.refuse(w, http.StatusUnauthorized, ReasonUnauthorized, msg)
		return
	}
	src, msg := h.source(r)
	if src == nil {
		h.refuse(w, http.StatusBadRequest, ReasonBadRequest, msg)
		return
	}
	if src.err != nil {
		h.log.Error("segment: source cannot take events", "error", src.err)
		h.refuse(w, http.StatusInternalServerError, ReasonUnavailable, src.err.Error())
		return
	}
	limit := h.opts.MaxEventBytes
	if batch {
		limit = h.opts.MaxBatchBytes
	}
	body, err := readBody(w, r, limit)
	if err != nil {
		if err == errTooLarge {
			h.refuse(w, http.StatusRequestEntityTooLarge, ReasonTooLarge, fmt.Sprintf("the body is over the limit of %d bytes", limit))
		} else {
			h.refuse(w, http.StatusBadRequest, ReasonMalformed, err.Error())
		}
		return
	}
	items, rej := src.dec.decode(body, batch, h.opts.Now())
	if rej != nil {
		h.refuse(w, http.StatusBadRequest, rej.reason, rej.msg)
		return
	}
	if err := h.checkKnown(r.Context(), items); err != nil {
		h.log.Warn("segment: cannot check customers", "source", src.dec.es.addr, "error", err)
		h.unavailable(w, "herald cannot check customers now; retry later")
		return
	}
	if !batch && items[0].rej != nil {
		h.refuse(w, http.StatusUnprocessableEntity, items[0].rej.reason, items[0].rej.msg)
		return
	}
	h.accept(w, r.Context(), src, items)
}

// authorize returns why the request may not send events, or "".
func (h *segmentHandler) authorize(r *http.Request) string {
	if h.opts.WriteKey == "" {
		return "herald has no write key, so it takes no events: set HERALD_WRITE_KEY and send it as the basic-auth username"
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "no write key: send it as the basic-auth username with an empty password"
	}
	if !equalKey(user, h.opts.WriteKey) || pass != "" {
		return "wrong write key: send it as the basic-auth username with an empty password"
	}
	return ""
}

// source picks the request's source; nil and a message when it cannot.
func (h *segmentHandler) source(r *http.Request) (*segSource, string) {
	name := r.URL.Query().Get("source")
	if name == "" {
		if h.only != nil {
			return h.only, ""
		}
		if len(h.names) == 0 {
			return nil, "herald has no event source to take events into"
		}
		return nil, "name the event source with ?source=NAME; herald has " + strings.Join(h.names, ", ")
	}
	if s := h.sources[name]; s != nil {
		return s, ""
	}
	return nil, fmt.Sprintf("unknown source %q; herald takes events into %s", name, strings.Join(h.names, ", "))
}

// checkKnown rejects the events of customers Known says do not exist,
// asking once per customer.
func (h *segmentHandler) checkKnown(ctx context.Context, items []segItem) error {
	if h.opts.Known == nil {
		return nil
	}
	known := map[string]bool{}
	for i := range items {
		it := &items[i]
		if it.rej != nil || it.ignored {
			continue
		}
		id := it.ev.CustomerID
		ok, seen := known[id]
		if !seen {
			var err error
			if ok, err = h.opts.Known(ctx, id); err != nil {
				return err
			}
			known[id] = ok
		}
		if !ok {
			it.rej = &rejection{ReasonUnknownCustomer, "unknown customer: no customer has this userId"}
		}
	}
	return nil
}

// segResponse is the body of a 200: Segment's {"success": true} and the
// counts of what herald did with the messages.
type segResponse struct {
	Success  bool       `json:"success"`
	Accepted int        `json:"accepted"`
	Rejected int        `json:"rejected"`
	Ignored  int        `json:"ignored"`
	Errors   []segError `json:"errors,omitempty"`
}

type segError struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// accept hands the good events to the Sink and answers with the counts.
func (h *segmentHandler) accept(w http.ResponseWriter, ctx context.Context, src *segSource, items []segItem) {
	var resp segResponse
	evs := make([]Event, 0, len(items))
	for i, it := range items {
		switch {
		case it.ignored:
			resp.Ignored++
		case it.rej != nil:
			resp.Rejected++
			h.reject(it.rej.reason)
			if len(resp.Errors) < maxReportedErrors {
				resp.Errors = append(resp.Errors, segError{Index: i, Reason: it.rej.reason, Error: it.rej.msg})
			}
		default:
			evs = append(evs, it.ev)
		}
	}
	if len(evs) > 0 {
		if h.opts.Sink == nil {
			h.unavailable(w, "herald is not ready to take events; retry later")
			return
		}
		if err := h.opts.Sink(ctx, evs); err != nil {
			h.log.Warn("segment: events not accepted", "source", src.dec.es.addr, "events", len(evs), "error", err)
			h.unavailable(w, "herald could not take the events now; retry later")
			return
		}
	}
	resp.Success, resp.Accepted = true, len(evs)
	if resp.Rejected > 0 {
		h.log.Debug("segment: messages rejected", "source", src.dec.es.addr, "accepted", resp.Accepted, "rejected", resp.Rejected)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *segmentHandler) reject(reason string) {
	if h.opts.OnReject != nil {
		h.opts.OnReject(reason)
	}
}

// refuse answers a request that is rejected as a whole.
func (h *segmentHandler) refuse(w http.ResponseWriter, status int, reason, msg string) {
	h.reject(reason)
	writeJSON(w, status, map[string]string{"error": msg})
}

// unavailable answers 503, which Segment and its libraries retry.
func (h *segmentHandler) unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "5")
	h.refuse(w, http.StatusServiceUnavailable, ReasonUnavailable, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
