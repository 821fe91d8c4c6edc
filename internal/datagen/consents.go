package datagen

import (
	"io"
	"math/rand/v2"
	"time"
)

// ConsentsHeader is the header row of consents.csv.
const ConsentsHeader = "customer_id,channel,status,method,recorded_at,policy_version"

// Consent statuses. The latest record of a customer and channel wins.
const (
	StatusGranted   = "granted"   // consent given (for SMS: the first step of double opt-in)
	StatusConfirmed = "confirmed" // SMS double opt-in confirmed by a reply
	StatusWithdrawn = "withdrawn" // e-mail unsubscribe
	StatusRevoked   = "revoked"   // SMS STOP
	StatusObjected  = "objected"  // ads: CCPA opt-out, GDPR Art. 21 objection
)

type consentRecord struct {
	channel, status, method string
	at                      int64
}

// policyVersion is the privacy policy in force at t.
func policyVersion(t int64) string {
	switch {
	case t < time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).Unix():
		return "2023-05"
	case t < time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC).Unix():
		return "2024-06"
	}
	return "2025-09"
}

// between returns a time in [from+lo, now-60), and false when that range is
// empty: then the event it was drawn for has not happened yet.
func between(r *rand.Rand, from, lo, now int64) (int64, bool) {
	from += lo
	span := now - 60 - from
	if span <= 0 {
		return 0, false
	}
	return from + r.Int64N(span), true
}

// genConsents appends the consent history of c to recs, ordered by time.
func genConsents(r *rand.Rand, c *customer, now int64, recs []consentRecord) []consentRecord {
	// The account predates the last purchase, which is at least a minute ago,
	// so every first record below lies before now-60.
	created := c.lastPurchase - day - r.Int64N(730*day)

	// E-mail: single opt-in, mostly at checkout or sign-up; some unsubscribe
	// later, and a few of those subscribe again.
	if r.IntN(100) < 78 {
		t := created + r.Int64N(600)
		var method string
		switch v := r.IntN(100); {
		case v < 45:
			method = "checkout"
		case v < 75:
			method = "web_form"
		case v < 95:
			method = "account_signup"
		default:
			method = "import"
		}
		recs = append(recs, consentRecord{"email", StatusGranted, method, t})
		if w, ok := between(r, t, day, now); ok && r.IntN(100) < 10 {
			method := "unsubscribe_link"
			if r.IntN(100) < 20 {
				method = "preference_center"
			}
			recs = append(recs, consentRecord{"email", StatusWithdrawn, method, w})
			if g, ok := between(r, w, day, now); ok && r.IntN(100) < 20 {
				recs = append(recs, consentRecord{"email", StatusGranted, "preference_center", g})
			}
		}
	}

	// SMS: double opt-in. A keyword or form sign-up is "granted"; the reply
	// that confirms it is "confirmed". Some never confirm, a few text STOP.
	if c.hasPhone && r.IntN(100) < 40 {
		t, _ := between(r, created, 0, now) // created < now-60
		method := "web_form"
		switch v := r.IntN(100); {
		case v < 30:
			method = "checkout"
		case v < 40:
			method = "sms_keyword"
		}
		recs = append(recs, consentRecord{"sms", StatusGranted, method, t})
		if cf := t + 30 + r.Int64N(2*60*60); r.IntN(100) < 85 && cf < now-60 {
			recs = append(recs, consentRecord{"sms", StatusConfirmed, "sms_reply", cf})
			if s, ok := between(r, cf, 60*60, now); ok && r.IntN(100) < 8 {
				recs = append(recs, consentRecord{"sms", StatusRevoked, "sms_stop", s})
			}
		}
	}

	// Ads: legitimate interest, so no record means "not objected". Customers
	// in Europe answered a cookie banner; some customers objected later.
	adsFrom := created
	if eu := c.country.code == "GB" || c.country.code == "DE" || c.country.code == "FR"; eu && r.IntN(100) < 55 {
		t := created + r.Int64N(day) // created < now-day-60
		recs = append(recs, consentRecord{"ads", StatusGranted, "cookie_banner", t})
		adsFrom = t
	}
	if o, ok := between(r, adsFrom, 60, now); ok && r.IntN(100) < 7 {
		method := "preference_center"
		if c.country.code == "US" || c.country.code == "CA" {
			method = "ccpa_opt_out"
			if r.IntN(2) == 0 {
				method = "gpc_signal"
			}
		}
		recs = append(recs, consentRecord{"ads", StatusObjected, method, o})
	}

	for i := range recs { // a handful of records, so insertion sort
		for j := i; j > 0 && recs[j].at < recs[j-1].at; j-- {
			recs[j], recs[j-1] = recs[j-1], recs[j]
		}
	}
	return recs
}

// WriteConsents writes consents.csv: a header and the consent history of
// every customer, ordered by customer and then by time. A customer without a
// record for a channel never gave consent for it.
func WriteConsents(w io.Writer, o Options) error {
	if w == nil {
		return errNilWriter
	}
	if err := o.check(); err != nil {
		return err
	}
	rw := newRowWriter(w)
	rw.buf = append(rw.buf, ConsentsHeader+"\n"...)
	if err := rw.flushRow(); err != nil {
		return err
	}
	cs := newCustomers(o)
	s := newStream()
	now := o.now().Unix()
	width := idWidth(o.Customers)
	recs := make([]consentRecord, 0, 16)
	for n := 1; n <= o.Customers; n++ {
		c := cs.get(n)
		recs = genConsents(s.seed(o.Seed, streamConsent, uint64(n)), c, now, recs[:0])
		for _, rec := range recs {
			b := appendID(rw.buf, 'c', n, width)
			b = append(b, ',')
			b = append(b, rec.channel...)
			b = append(b, ',')
			b = append(b, rec.status...)
			b = append(b, ',')
			b = append(b, rec.method...)
			b = append(b, ',')
			b = appendTime(b, rec.at)
			b = append(b, ',')
			b = append(b, policyVersion(rec.at)...)
			rw.buf = append(b, '\n')
		}
		if err := rw.flushRow(); err != nil {
			return err
		}
	}
	return rw.finish()
}
