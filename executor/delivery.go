package executor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zclconf/go-cty/cty"
	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
)

// Delivery defaults per provider type: messages per second (0 means no
// limit). The provider block's rate_limit, burst, concurrency and
// max_retries override them.
var defaultRates = map[string]float64{
	"outbox":    0,
	"smtp":      10,
	"webhook":   100,
	"twilio":    10,
	"mailchimp": 10,
}

const (
	defaultRate        = 10
	defaultConcurrency = 8
	defaultMaxRetries  = 5
)

// idempotentTypes are the provider types that honour Message.IdempotencyKey,
// so that resending a message whose outcome a crash lost is not a second
// message. For the others, outcomes are written to the ledger one by one.
var idempotentTypes = map[string]bool{"outbox": true, "webhook": true}

// deliverer sends to one provider: a token bucket, a pool of workers, and
// retries with backoff. A provider that fails PauseAfter times in a row is
// paused: its workers stop calling it and leave their messages pending.
type deliverer struct {
	addr       string
	ch         providers.Channel
	lim        *rate.Limiter
	conc       int
	maxRetries int
	idempotent bool
	pauseAfter int64
	base, cap  time.Duration
	onPause    func()

	// buf is the channel's buffered side, which apply's workers use
	// for an idempotent provider that has one: their outcomes are written
	// to the ledger only after flush.
	buf providers.BufferedChannel

	work   chan *job
	wg     sync.WaitGroup
	fails  atomic.Int64
	paused atomic.Bool
}

func attrNumber(p *lang.Provider, name string) (float64, bool) {
	v, ok := p.Attributes[name]
	if !ok || v.IsNull() || !v.IsKnown() || !v.Type().Equals(cty.Number) {
		return 0, false
	}
	f, _ := v.AsBigFloat().Float64()
	return f, true
}

// deliverer returns the deliverer of a provider, opening its channel and
// starting its workers the first time.
func (x *executor) deliverer(p *lang.Provider) (*deliverer, error) {
	ctx := x.ctx
	x.delMu.Lock()
	defer x.delMu.Unlock()
	if d, ok := x.deliverers[p.Address()]; ok {
		return d, nil
	}
	d, err := openDeliverer(ctx, x.cfg, p, x.opts, func() { x.res.paused("provider." + p.Address()) })
	if err != nil {
		return nil, err
	}
	// A batch's worth of room: the scan records the next batch in the
	// ledger while the workers send this one, instead of the workers
	// waiting for each ledger write.
	d.work = make(chan *job, max(d.conc*4, x.opts.LedgerBatch))
	if b, ok := d.ch.(providers.BufferedChannel); ok && d.idempotent {
		d.buf = b
	}
	for range d.conc {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for j := range d.work {
				j.run.deliver(ctx, d, j)
			}
		}()
	}
	x.deliverers[p.Address()] = d
	return d, nil
}

// openDeliverer opens a provider's channel with its rate limit, retry and
// pause settings, and no workers: apply adds a pool of them, the runner
// calls send from its own.
func openDeliverer(ctx context.Context, cfg *lang.Config, p *lang.Provider, opts Options, onPause func()) (*deliverer, error) {
	ch, err := providers.OpenChannel(ctx, providers.ChannelRequest{Dir: cfg.Dir, Provider: p, LookupEnv: opts.LookupEnv})
	if err != nil {
		return nil, fmt.Errorf("opening provider.%s: %w", p.Address(), err)
	}
	r, ok := attrNumber(p, "rate_limit")
	if !ok {
		r, ok = defaultRates[p.Type]
		if !ok {
			r = defaultRate
		}
	}
	limit := rate.Inf
	burst := 1
	if r > 0 {
		limit = rate.Limit(r)
		burst = max(1, int(r))
		if b, ok := attrNumber(p, "burst"); ok && b >= 1 {
			burst = int(b)
		}
	}
	conc := defaultConcurrency
	if c, ok := attrNumber(p, "concurrency"); ok && c >= 1 {
		conc = int(c)
	}
	retries := defaultMaxRetries
	if m, ok := attrNumber(p, "max_retries"); ok && m >= 0 {
		retries = int(m)
	}
	return &deliverer{
		addr: p.Address(), ch: ch, lim: rate.NewLimiter(limit, burst), conc: conc, maxRetries: retries,
		idempotent: idempotentTypes[p.Type], pauseAfter: int64(opts.PauseAfter),
		base: opts.RetryBase, cap: opts.RetryCap, onPause: onPause,
	}, nil
}

func (x *executor) closeDeliverers() {
	x.delMu.Lock()
	defer x.delMu.Unlock()
	for _, d := range x.deliverers {
		close(d.work)
		d.wg.Wait()
		d.ch.Close()
	}
}

// send delivers one message, retrying transient failures. left is true
// when the message was not sent because the provider is paused or the
// apply was cancelled: it stays pending.
func (d *deliverer) send(ctx context.Context, m *providers.Message) (r providers.SendResult, left bool) {
	for attempt := 0; ; attempt++ {
		if d.paused.Load() || ctx.Err() != nil {
			return r, true
		}
		if err := d.lim.Wait(ctx); err != nil {
			return r, true
		}
		if d.buf != nil {
			r = d.buf.SendBuffered(ctx, m)
		} else {
			r = d.ch.Send(ctx, m)
		}
		switch r.Outcome {
		case providers.Sent:
			d.fails.Store(0)
			return r, false
		case providers.Suppress:
			return r, false
		case providers.Failed:
			d.failure()
			return r, false
		case providers.Retry:
			if d.failure() {
				return r, true
			}
			if attempt >= d.maxRetries {
				return r, false
			}
			if !sleep(ctx, d.backoff(attempt, r.RetryAfter)) {
				return r, true
			}
		default:
			return providers.SendResult{Outcome: providers.Failed, Err: fmt.Errorf("provider answered %v", r.Outcome)}, false
		}
	}
}

// flush hands on what buffered sends hold; their outcomes may be recorded
// once it returns nil.
func (d *deliverer) flush() error {
	if d.buf == nil {
		return nil
	}
	return d.buf.Flush()
}

// failure counts a failure in a row and reports whether it paused the
// provider.
func (d *deliverer) failure() bool {
	if d.fails.Add(1) >= d.pauseAfter {
		if d.paused.CompareAndSwap(false, true) {
			d.onPause()
		}
		return true
	}
	return false
}

// backoff is exponential with jitter (half to all of base·2^attempt, at
// most cap), and never shorter than what the provider asked for.
func (d *deliverer) backoff(attempt int, retryAfter time.Duration) time.Duration {
	w := d.base << min(attempt, 20)
	if w > d.cap || w <= 0 {
		w = d.cap
	}
	w = w/2 + time.Duration(rand.Int64N(int64(w/2)+1))
	return max(w, min(retryAfter, 5*time.Minute))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
