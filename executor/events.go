package executor

import (
	"sort"
	"sync"
	"time"
)

// Event is one thing that happened during an apply, for progress displays
// and for -json, which writes one event per line. Type is one of
// apply_start, change_applied, send_progress, campaign_done, apply_done.
type Event struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`

	// apply_start
	PlanID   string `json:"plan_id,omitempty"`
	Resumed  bool   `json:"resumed,omitempty"`
	Changes  int    `json:"changes,omitempty"`
	Messages int64  `json:"messages,omitempty"`

	// change_applied, send_progress, campaign_done
	Address string `json:"address,omitempty"`
	Action  string `json:"action,omitempty"`
	// Total is the number of pinned recipients of a campaign.
	Total    int64           `json:"total,omitempty"`
	Counts   *Counts         `json:"counts,omitempty"`
	Campaign *CampaignResult `json:"campaign,omitempty"`

	// apply_done
	Result *Result `json:"result,omitempty"`
	Error  string  `json:"error,omitempty"`
	// Rule is the diagnostic rule of Error when it is the user's to fix
	// (stale-plan), so that CI can tell it from a provider failing.
	Rule string `json:"rule,omitempty"`
}

// Counts are the fates of a campaign's pinned recipients.
type Counts struct {
	// Sent, Failed, Deferred and Skipped count outcomes of this apply and,
	// when it resumes one, of the apply it resumes.
	Sent     int64            `json:"sent"`
	Failed   int64            `json:"failed"`
	Deferred int64            `json:"deferred"`
	Skipped  map[string]int64 `json:"skipped,omitempty"`
	// Pending are messages recorded but not sent: a paused provider, or a
	// cancelled apply. Applying the same plan again sends them.
	Pending int64 `json:"pending,omitempty"`
	// Earlier counts the outcomes an interrupted apply had already
	// recorded (included in the counts above).
	Earlier int64 `json:"earlier,omitempty"`
}

// SkippedTotal is the number of recipients skipped for any reason.
func (c *Counts) SkippedTotal() int64 {
	var n int64
	for _, v := range c.Skipped {
		n += v
	}
	return n
}

// Done is the number of recipients with a final outcome.
func (c *Counts) Done() int64 { return c.Sent + c.Failed + c.Deferred + c.SkippedTotal() }

func (c *Counts) add(o Counts) {
	c.Sent += o.Sent
	c.Failed += o.Failed
	c.Deferred += o.Deferred
	c.Pending += o.Pending
	c.Earlier += o.Earlier
	for k, v := range o.Skipped {
		if c.Skipped == nil {
			c.Skipped = map[string]int64{}
		}
		c.Skipped[k] += v
	}
}

func (c Counts) clone() Counts {
	out := c
	out.Skipped = nil
	for k, v := range c.Skipped {
		if out.Skipped == nil {
			out.Skipped = map[string]int64{}
		}
		out.Skipped[k] = v
	}
	return out
}

// Skip reasons.
const (
	SkipConsent    = "consent_withdrawn"
	SkipCap        = "frequency_cap"
	SkipSuppressed = "suppressed"
	SkipNotFound   = "profile_not_found"
	SkipNoAddress  = "no_address"
)

// CampaignResult is what became of one campaign.
type CampaignResult struct {
	Address  string          `json:"address"`
	Provider string          `json:"provider"`
	Status   string          `json:"status"`
	Total    int64           `json:"total"`
	Counts   Counts          `json:"counts"`
	Variants []VariantResult `json:"variants"`
}

// VariantResult is what became of one variant's recipients.
type VariantResult struct {
	Name   string `json:"name"`
	Counts Counts `json:"counts"`
}

// Result is what an apply did.
type Result struct {
	PlanID  string `json:"plan_id"`
	Resumed bool   `json:"resumed,omitempty"`
	// Applied lists the changes written to the state; Failed the ones
	// that failed, with why; NotApplied those left out because a change
	// they depend on failed.
	Applied    []string          `json:"applied,omitempty"`
	Failed     map[string]string `json:"failed,omitempty"`
	NotApplied []string          `json:"not_applied,omitempty"`
	Campaigns  []*CampaignResult `json:"campaigns,omitempty"`
	// Warnings are things the apply did not do that the user should know.
	Warnings []string `json:"warnings,omitempty"`
	// Paused lists the providers paused for failing again and again.
	Paused   []string      `json:"paused,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	// LedgerTime is the time spent writing the send ledger.
	LedgerTime time.Duration `json:"ledger_ns"`

	mu sync.Mutex
}

// Totals sums the counts of every campaign.
func (r *Result) Totals() Counts {
	var c Counts
	for _, cr := range r.Campaigns {
		c.add(cr.Counts)
	}
	return c
}

func (r *Result) applied(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Applied = append(r.Applied, addr)
	sort.Strings(r.Applied)
}

func (r *Result) failed(addr string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Failed == nil {
		r.Failed = map[string]string{}
	}
	r.Failed[addr] = err.Error()
}

func (r *Result) warn(w string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Warnings = append(r.Warnings, w)
}

func (r *Result) paused(provider string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.Paused {
		if p == provider {
			return
		}
	}
	r.Paused = append(r.Paused, provider)
}
