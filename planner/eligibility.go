package planner

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/providers"
	"github.com/heraldhq/herald/state"
)

// ConsentFields are the columns of a consent table.
var ConsentFields = []string{"customer_id", "channel", "status", "method", "recorded_at", "policy_version"}

// Consent statuses. The latest record per customer and channel wins.
const (
	StatusGranted   = "granted"   // agreed (single opt-in), or first step of a double opt-in
	StatusConfirmed = "confirmed" // double opt-in confirmed
	StatusWithdrawn = "withdrawn" // consent withdrawn
	StatusRevoked   = "revoked"   // consent revoked (e.g. by the data controller)
	StatusObjected  = "objected"  // objection to processing on legitimate interest (CCPA opt-out, GDPR Art. 21)
)

// consentIndex answers "may we message this customer on this channel?".
type consentIndex struct {
	channels map[string]int // channel → slot
	// ids are the customers indexed; status[slot][i] and at[slot][i] are
	// the status code and time of customer i's latest record on the
	// channel in that slot. A slot's columns are allocated when its first
	// record is read: a byte and an int64 per customer, where a map entry
	// per customer cost a hundred bytes.
	ids    *idSet
	status [][]byte
	at     [][]int64
}

const (
	cNone byte = iota
	cGranted
	cConfirmed
	cWithdrawn
	cObjected
)

func statusCode(s string) byte {
	switch s {
	case StatusGranted:
		return cGranted
	case StatusConfirmed:
		return cConfirmed
	case StatusWithdrawn, StatusRevoked:
		return cWithdrawn
	case StatusObjected:
		return cObjected
	}
	return cNone
}

// newConsentIndex is an empty index of the customers in ids, for the
// channels of cfg.
func newConsentIndex(cfg *lang.Config, ids *idSet) *consentIndex {
	idx := &consentIndex{channels: map[string]int{}, ids: ids}
	if cfg != nil && cfg.Consent != nil {
		for i, n := range lang.Sorted(cfg.Consent.Channels) {
			idx.channels[n] = i
		}
	}
	idx.status = make([][]byte, len(idx.channels))
	idx.at = make([][]int64, len(idx.channels))
	return idx
}

// record applies one consent record of customer i: the latest record per
// channel wins. Only while loading: loadConsent drops the times after.
func (c *consentIndex) record(i uint32, slot int, status byte, when int64) {
	if c.status[slot] == nil {
		c.status[slot] = make([]byte, c.ids.len())
		// No record yet is older than any record, even one with no time
		// or a status herald does not know, which must still win over an
		// older grant.
		at := make([]int64, c.ids.len())
		for k := range at {
			at[k] = math.MinInt64
		}
		c.at[slot] = at
	}
	if when >= c.at[slot][i] {
		c.status[slot][i], c.at[slot][i] = status, when
	}
}

// loadConsent reads the consent source: the latest record per customer and
// channel wins. Only the customers in ids are indexed.
func loadConsent(ctx context.Context, dir string, cfg *lang.Config, ids *idSet) (*consentIndex, error) {
	idx := newConsentIndex(cfg, ids)
	if cfg.Consent == nil {
		return idx, nil
	}
	src := cfg.Consent.From
	if src == nil || src.From == nil || ids.len() == 0 {
		return idx, nil
	}
	// Only the columns the index needs are typed.
	layout := providers.NewLayoutOf([]string{"customer_id", "channel", "status", "recorded_at"}, map[string]*lang.FieldType{"recorded_at": {Kind: "timestamp"}})
	s, err := providers.OpenSource(ctx, providers.SourceRequest{Dir: dir, Provider: src.From, Source: src, Layout: layout})
	if err != nil {
		return nil, fmt.Errorf("reading consent source %s: %w", src.Name, err)
	}
	defer s.Close()
	ci, ch, st, at := layout.Index("customer_id"), layout.Index("channel"), layout.Index("status"), layout.Index("recorded_at")
	_, err = s.Scan(ctx, 4096, func(batch []providers.Record) error {
		for i := range batch {
			r := &batch[i]
			id, _ := r.Values[ci].(string)
			channel, _ := r.Values[ch].(string)
			slot, ok := idx.channels[channel]
			if id == "" || !ok {
				continue
			}
			n, ok := ids.lookup(id)
			if !ok {
				continue
			}
			status, _ := r.Values[st].(string)
			var when int64
			if t, ok := r.Values[at].(time.Time); ok {
				when = t.UnixNano()
			}
			idx.record(n, slot, statusCode(status), when)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading consent source %s: %w", src.Name, err)
	}
	// The times only chose the latest record; the index is done with them.
	idx.at = nil
	return idx, nil
}

// allowed reports whether the customer may be messaged on the channel:
// with basis consent, their latest record grants it (confirmed, for double
// opt-in); with legitimate interest, they have not objected.
func (c *consentIndex) allowed(id string, ch *lang.ConsentChannel) bool {
	i, ok := c.ids.lookup(id)
	if !ok {
		if ch == nil {
			return false
		}
		if _, ok := c.channels[ch.Name]; !ok {
			return false
		}
		return permits(cNone, ch)
	}
	return c.allowedAt(i, ch)
}

// allowedAt is allowed for customer i of the index's ids.
func (c *consentIndex) allowedAt(i uint32, ch *lang.ConsentChannel) bool {
	if ch == nil {
		return false
	}
	slot, ok := c.channels[ch.Name]
	if !ok {
		return false
	}
	var s byte
	if c.status[slot] != nil {
		s = c.status[slot][i]
	}
	return permits(s, ch)
}

// permits reports whether a latest status s allows messaging on ch.
func permits(s byte, ch *lang.ConsentChannel) bool {
	if ch.Basis == "legitimate_interest" {
		return s != cObjected && s != cWithdrawn
	}
	if ch.OptIn == "double" {
		return s == cConfirmed
	}
	return s == cGranted || s == cConfirmed
}

// suppressionIndex is the global suppression list.
type suppressionIndex map[string][]string // customer → channels ("" = all)

func loadSuppressions(ctx context.Context, st state.Backend) (suppressionIndex, error) {
	list, err := st.Suppressions(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the suppression list: %w", err)
	}
	idx := suppressionIndex{}
	for _, s := range list {
		idx[s.CustomerID] = append(idx[s.CustomerID], s.Channel)
	}
	return idx, nil
}

func (s suppressionIndex) suppressed(id, channel string) bool {
	for _, c := range s[id] {
		if c == "" || c == channel {
			return true
		}
	}
	return false
}

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// salt is the FNV-1a state after salt and a zero byte, so that a campaign's
// salt is hashed once and not once per customer.
func salt(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	h *= fnvPrime // ^= 0
	return h
}

// unit returns a uniform number in [0, 1) from a hash of salt and id: the
// same customer always lands in the same place for the same campaign, so
// holdout and variants are stable when the audience grows or shrinks.
func unit(s, id string) float64 { return unitFrom(salt(s), id) }

// unitFrom is unit with the salt already hashed by salt.
func unitFrom(h uint64, id string) float64 {
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= fnvPrime
	}
	x := h
	// fnv's low bits mix poorly for short inputs: finish with a splitmix
	// round before taking the top 53 bits.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / float64(1<<53)
}

// InHoldout reports whether a customer is held out of a campaign.
func InHoldout(campaign, id string, holdout float64) bool {
	return holdout > 0 && unit("holdout:"+campaign, id) < holdout
}

// PickVariant assigns a customer to a variant by weight.
func PickVariant(campaign, id string, variants []*lang.Variant) string {
	return variants[pickVariant(salt("variant:"+campaign), id, variants)].Name
}

// pickVariant is PickVariant with the salt hashed, returning the index.
func pickVariant(h uint64, id string, variants []*lang.Variant) int {
	var total float64
	for _, v := range variants {
		total += v.Weight
	}
	x := unitFrom(h, id) * total
	for i, v := range variants {
		if x < v.Weight {
			return i
		}
		x -= v.Weight
	}
	return len(variants) - 1
}

// SendTime is when a message to a recipient in loc is due: the schedule's
// time (read in loc for recipient-local schedules), or now, moved to the end
// of quiet hours when it falls inside them. deferred reports the move.
func SendTime(now time.Time, s *lang.Schedule, q *lang.QuietHours, loc *time.Location) (at time.Time, deferred bool) {
	at = now
	if s != nil {
		if s.Recipient {
			w := s.At
			at = time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc)
		} else {
			at = s.At
		}
		if at.Before(now) {
			at = now
		}
	}
	if q == nil {
		return at, false
	}
	local := at.In(loc)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	tod := local.Sub(midnight)
	if !q.Contains(tod) {
		return at, false
	}
	// Quiet: move to the end of the window, today or tomorrow. Going
	// through the date keeps the wall-clock right across a DST change.
	endDay := midnight
	if q.Start > q.End && tod >= q.Start {
		endDay = time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, loc)
	}
	h, m := int(q.End/time.Hour), int(q.End%time.Hour/time.Minute)
	end := time.Date(endDay.Year(), endDay.Month(), endDay.Day(), h, m, 0, 0, loc)
	return end, true
}

var _ = math.MaxInt
