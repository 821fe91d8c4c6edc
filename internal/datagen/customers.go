package datagen

import (
	"io"
	"math"
	"math/rand/v2"
)

// CustomersHeader is the header row of customers.csv.
const CustomersHeader = "id,email,phone,first_name,country,timezone,ltv,last_purchase_at,support_case_open,age_range"

const day = 24 * 60 * 60 // seconds

// customer is one generated profile. It holds only references to the static
// tables and numbers, so generating one allocates nothing.
type customer struct {
	n            int
	country      *country
	zone         *zone
	first        name
	hasFirst     bool
	last         string
	emailStyle   int
	domain       string
	mixedCase    bool
	hasPhone     bool
	phonePrefix  string
	phoneSuffix  int
	ltvCents     int64
	lastPurchase int64 // Unix seconds
	supportOpen  bool
	age          string
}

// ltvMedianCents and ltvSigma make ltv log-normal with 20% of customers at
// 500.00 or more: P(X >= 500) = 1 - Φ((ln 500 - ln m)/σ) = 0.2 for
// m = 500·e^(-0.8416σ).
const (
	ltvSigma       = 1.0
	ltvMedianCents = 21560
)

// gen fills c with customer number n (1-based) drawn from r.
func (c *customer) gen(r *rand.Rand, n int, now int64) {
	c.n = n
	c.country = pickCountry(r)
	c.zone = c.country.pickZone(r)
	c.first = c.country.firstNames[r.IntN(len(c.country.firstNames))]
	c.last = c.country.lastNames[r.IntN(len(c.country.lastNames))]
	c.hasFirst = r.IntN(100) >= 2
	switch v := r.IntN(100); {
	case v < 55:
		c.emailStyle = 0
	case v < 85:
		c.emailStyle = 1
	default:
		c.emailStyle = 2
	}
	c.domain = emailDomains[r.IntN(len(emailDomains))]
	c.mixedCase = r.IntN(100) == 0
	c.hasPhone = r.IntN(100) >= 12
	c.phonePrefix = c.zone.prefixes[r.IntN(len(c.zone.prefixes))]
	c.phoneSuffix = r.IntN(pow10(c.country.suffixDigits))

	cents := math.Round(float64(ltvMedianCents) * math.Exp(ltvSigma*r.NormFloat64()))
	c.ltvCents = int64(min(max(cents, 500), 2_500_000))

	// A third bought in the last 90 days, the rest up to two years ago.
	if r.IntN(100) < 35 {
		c.lastPurchase = now - 60 - r.Int64N(90*day)
	} else {
		c.lastPurchase = now - 90*day - r.Int64N(640*day)
	}
	c.supportOpen = r.IntN(100) < 5
	c.age = pickAge(r)
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}

func (c *customer) appendEmail(b []byte) []byte {
	start := len(b)
	switch c.emailStyle {
	case 0: // first.last123
		b = append(b, c.first.ascii...)
		b = append(b, '.')
		b = append(b, c.last...)
	case 1: // flast123
		b = append(b, c.first.ascii[0])
		b = append(b, c.last...)
	default: // first123
		b = append(b, c.first.ascii...)
	}
	b = appendInt(b, c.n)
	b = append(b, '@')
	dom := len(b)
	b = append(b, c.domain...)
	if c.mixedCase { // Olivia.Smith12@Example.com: normalisation must lower-case it
		b[start] -= 'a' - 'A'
		b[dom] -= 'a' - 'A'
	}
	return b
}

func (c *customer) appendPhone(b []byte) []byte {
	if !c.hasPhone {
		return b
	}
	b = append(b, c.phonePrefix...)
	digits := c.country.suffixDigits
	if c.phonePrefix[1] == '1' { // NANP
		b = append(b, nanpExchange...)
	}
	return appendPadded(b, c.phoneSuffix, digits)
}

func (c *customer) appendRow(b []byte, width int) []byte {
	b = appendID(b, 'c', c.n, width)
	b = append(b, ',')
	b = c.appendEmail(b)
	b = append(b, ',')
	b = c.appendPhone(b)
	b = append(b, ',')
	if c.hasFirst {
		b = append(b, c.first.shown...)
	}
	b = append(b, ',')
	b = append(b, c.country.code...)
	b = append(b, ',')
	b = append(b, c.zone.tz...)
	b = append(b, ',')
	b = appendCents(b, c.ltvCents)
	b = append(b, ',')
	b = appendTime(b, c.lastPurchase)
	b = append(b, ',')
	if c.supportOpen {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	b = append(b, ',')
	b = append(b, c.age...)
	return append(b, '\n')
}

// customers regenerates customer n of o on demand.
type customers struct {
	s    *stream
	seed uint64
	now  int64
	c    customer
}

func newCustomers(o Options) *customers {
	return &customers{s: newStream(), seed: o.Seed, now: o.now().Unix()}
}

func (cs *customers) get(n int) *customer {
	cs.c.gen(cs.s.seed(cs.seed, streamCustomer, uint64(n)), n, cs.now)
	return &cs.c
}

// WriteCustomers writes customers.csv: a header and one row per customer,
// ordered by id.
func WriteCustomers(w io.Writer, o Options) error {
	if w == nil {
		return errNilWriter
	}
	if err := o.check(); err != nil {
		return err
	}
	rw := newRowWriter(w)
	rw.buf = append(rw.buf, CustomersHeader+"\n"...)
	if err := rw.flushRow(); err != nil {
		return err
	}
	cs := newCustomers(o)
	width := idWidth(o.Customers)
	for n := 1; n <= o.Customers; n++ {
		rw.buf = cs.get(n).appendRow(rw.buf, width)
		if err := rw.flushRow(); err != nil {
			return err
		}
	}
	return rw.finish()
}
