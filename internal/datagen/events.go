package datagen

import (
	"io"
	"math"
	"math/rand/v2"
)

// Event types.
const (
	EventPageView    = "page_view"
	EventPurchase    = "purchase"
	EventSupportCase = "support_case"
	EventEmailOpen   = "email_open"
)

// Paths of events that are not product or category pages. Cart pages start
// with "/cart"; an email_open has an empty path.
const (
	PathCart          = "/cart"
	PathCheckout      = "/cart/checkout"
	PathOrderComplete = "/order/complete"
	PathHelp          = "/help"
	PathHelpContact   = "/help/contact"
	PathHome          = "/"
)

// EventWindow is how far back from Options.Now the events go.
const EventWindow = 30 * day

var productPaths, categoryPaths = func() ([]string, []string) {
	p := make([]string, len(products))
	for i, s := range products {
		p[i] = "/p/" + s
	}
	c := make([]string, len(categories))
	for i, s := range categories {
		c[i] = "/c/" + s
	}
	return p, c
}()

// meanEventsPerSession is the expected number of events of one session (see
// session): the number of sessions is the number of events wanted divided by
// it.
const meanEventsPerSession = 3.0

type event struct {
	at       int64
	seq      uint64 // generation order: breaks ties so output is deterministic
	customer int
	typ      string
	path     string
}

func (a *event) less(b *event) bool {
	return a.at < b.at || a.at == b.at && a.seq < b.seq
}

// eventHeap is a min-heap of pending events by time. Sessions are generated
// in order of their start, and last under an hour, so the heap only ever
// holds the events of the last hour or so.
type eventHeap []event

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s[i].less(&s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(s) && s[l].less(&s[m]) {
			m = l
		}
		if r := l + 1; r < len(s) && s[r].less(&s[m]) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// sessionGen makes the events of one visit of one customer.
type sessionGen struct {
	r        *rand.Rand
	h        *eventHeap
	seq      uint64
	customer int
	at       int64
}

func (g *sessionGen) add(typ, path string) {
	g.seq++
	g.h.push(event{at: g.at, seq: g.seq, customer: g.customer, typ: typ, path: path})
	g.at += 15 + g.r.Int64N(240)
}

func (g *sessionGen) product() string {
	// Earlier products are more popular.
	return productPaths[g.r.IntN(g.r.IntN(len(productPaths))+1)]
}

func (g *sessionGen) page() string {
	switch v := g.r.IntN(10); {
	case v == 0:
		return PathHome
	case v < 3:
		return categoryPaths[g.r.IntN(len(categoryPaths))]
	}
	return g.product()
}

// session generates one visit. The mix of kinds is chosen so that a session
// has meanEventsPerSession events on average:
//
//	browse   48%  1-5 page views                                  3.0
//	cart     14%  product pages, 2-4 cart pages, no purchase      ~5.1
//	purchase  8%  product pages, cart, checkout, purchase          5.0
//	email    25%  an email_open, 40% click through to a page       1.4
//	support   5%  the help page and a support case                 2.0
func (g *sessionGen) session() {
	switch v := g.r.IntN(100); {
	case v < 48:
		for k := 1 + g.r.IntN(5); k > 0; k-- {
			g.add(EventPageView, g.page())
		}
	case v < 62: // cart abandonment: what the quickstart's trigger looks for
		for k := 1 + g.r.IntN(2); k > 0; k-- {
			g.add(EventPageView, g.product())
		}
		for k := 0; k < 2+g.r.IntN(3); k++ {
			path := PathCart
			if k > 0 && g.r.IntN(2) == 0 {
				path = PathCheckout
			}
			g.add(EventPageView, path)
			if g.r.IntN(10) < 2 {
				g.add(EventPageView, g.product())
			}
		}
	case v < 70:
		for k := 1 + g.r.IntN(3); k > 0; k-- {
			g.add(EventPageView, g.product())
		}
		g.add(EventPageView, PathCart)
		g.add(EventPageView, PathCheckout)
		g.add(EventPurchase, PathOrderComplete)
	case v < 95:
		g.add(EventEmailOpen, "")
		if g.r.IntN(10) < 4 {
			g.add(EventPageView, g.page())
		}
	default:
		g.add(EventPageView, PathHelp)
		g.add(EventSupportCase, PathHelpContact)
	}
}

// WriteEvents writes events.jsonl: one JSON object per line with the fields
// id, customer_id, type, path and at, ordered by time (at) and numbered in
// that order. The events lie in the EventWindow before Options.Now; there are
// about Customers × EventsPerCustomer of them, in sessions of a random
// customer each.
func WriteEvents(w io.Writer, o Options) error {
	if w == nil {
		return errNilWriter
	}
	if err := o.check(); err != nil {
		return err
	}
	rw := newRowWriter(w)
	want := float64(o.Customers) * o.eventsPerCustomer()
	sessions := int64(math.Round(want / meanEventsPerSession))
	if o.Customers == 0 || sessions == 0 {
		return rw.finish()
	}
	now := o.now().Unix()
	start := now - EventWindow
	span := float64(EventWindow - 2*60*60) // sessions start at least 2h before now

	r := newStream().seed(o.Seed, streamEvents, 0)
	h := make(eventHeap, 0, 1024)
	g := &sessionGen{r: r, h: &h}
	custWidth := idWidth(o.Customers)
	idWidth := max(8, digits(int(2*want)))
	id := 0
	emit := func(e event) error {
		if e.at >= now {
			return nil
		}
		id++
		b := append(rw.buf, `{"id":"`...)
		b = appendID(b, 'e', id, idWidth)
		b = append(b, `","customer_id":"`...)
		b = appendID(b, 'c', e.customer, custWidth)
		b = append(b, `","type":"`...)
		b = append(b, e.typ...)
		b = append(b, `","path":"`...)
		b = append(b, e.path...)
		b = append(b, `","at":"`...)
		b = appendTime(b, e.at)
		rw.buf = append(b, "\"}\n"...)
		return rw.flushRow()
	}
	for k := range sessions {
		// Stratified start times: session k starts in the k-th of `sessions`
		// equal slices of the window, so starts come in order.
		at := start + int64(span*(float64(k)+r.Float64())/float64(sessions))
		for len(h) > 0 && h[0].at <= at {
			if err := emit(h.pop()); err != nil {
				return err
			}
		}
		g.customer = 1 + r.IntN(o.Customers)
		g.at = at
		g.session()
	}
	for len(h) > 0 {
		if err := emit(h.pop()); err != nil {
			return err
		}
	}
	return rw.finish()
}
