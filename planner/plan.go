// Package planner turns a checked Config and the current state into a Plan:
// what would change, and who would be messaged. It evaluates audiences by
// streaming the customer sources once, evaluating every segment in
// parallel, and runs each campaign's eligibility funnel (consent, frequency
// cap, suppression, holdout, variant) per customer. The plan can be saved,
// shown as text, JSON or markdown, and executed exactly by apply.
package planner

import (
	"time"
)

// FormatVersion is the version of the plan file and of the JSON plan. It
// changes only when a reader of the old format could misread the new.
const FormatVersion = 1

// Action is what a plan does to one object. The set is closed: renderers
// switch over it.
type Action string

// The actions.
const (
	NoOp   Action = "no-op"
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
	// Sync is an ad audience whose configuration is unchanged but whose
	// membership changes.
	Sync Action = "sync"
)

// Symbol is the one-character mark of an action in the text plan.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Update, Sync:
		return "~"
	case Delete:
		return "-"
	}
	return " "
}

// AttrChange is one attribute's before and after; Before is "" for a new
// attribute and After is "" for a removed one.
type AttrChange struct {
	Name   string `json:"name"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// Change is what happens to one object.
type Change struct {
	Address string       `json:"address"`
	Kind    string       `json:"kind"`
	Action  Action       `json:"action"`
	Attrs   []AttrChange `json:"attrs,omitempty"`
	// After holds every attribute as it will be, for state.
	After map[string]string `json:"after,omitempty"`
	// Summary is the one-line description on the change's header line in
	// the text plan ("email via outbox.local · 2026-12-01 09:00
	// recipient-local", "+1,204 −87 members"); empty when there is none.
	Summary string `json:"summary,omitempty"`

	Campaign *CampaignPlan `json:"campaign,omitempty"`
	Audience *AudiencePlan `json:"audience,omitempty"`
	// Teardown is what deleting an ad audience does on its platform.
	Teardown *Teardown `json:"teardown,omitempty"`
	// JourneysInFlight is the number of journeys a deleted trigger ends.
	JourneysInFlight int `json:"journeys_in_flight,omitempty"`
	// SendsLeft is the number of a deleted campaign's sends still in the
	// ledger, deferred to their send time or pending from an interrupted
	// apply: herald run skips them once the delete is applied.
	SendsLeft int `json:"sends_left,omitempty"`
}

// Step is one step of an eligibility funnel: how many customers it removed
// and why.
type Step struct {
	Name    string `json:"name"`    // in_segment, excluded, no_consent, frequency_cap, suppressed, holdout
	Label   string `json:"label"`   // for people: "no email consent"
	Removed int64  `json:"removed"` // customers this step removed (0 for the first)
	Remain  int64  `json:"remain"`  // customers left after it
}

// CampaignPlan is what a campaign would send.
type CampaignPlan struct {
	Channel  string         `json:"channel"`
	Provider string         `json:"provider"`
	Funnel   []Step         `json:"funnel"`
	Variants []VariantCount `json:"variants"`
	// Recipients are the pinned recipients: apply sends to these and no
	// one else. Not rendered; kept in the plan file.
	Recipients []Recipient `json:"-"`
	// Scheduled is set when the campaign goes out later, by the runner.
	Scheduled *time.Time `json:"scheduled,omitempty"`
	// Deferred counts recipients whose send time falls in quiet hours and
	// moves to their end.
	Deferred int64 `json:"deferred"`
	// Evaluation says how the audience was evaluated: "in memory",
	// "pushed down to SQL", or why pushdown was not possible.
	Evaluation string `json:"evaluation,omitempty"`
	// Sample lists a few recipients with their address, only when the
	// plan was made with ShowPII. It is never saved in a plan file.
	Sample []SampleRecipient `json:"sample,omitempty"`
}

// SampleRecipient is a recipient shown with their address by -show-pii.
type SampleRecipient struct {
	CustomerID string `json:"id"`
	Variant    string `json:"variant"`
	To         string `json:"to"`
}

// Messages is the number of messages the campaign would send.
func (c *CampaignPlan) Messages() int64 {
	var n int64
	for _, v := range c.Variants {
		n += v.Count
	}
	return n
}

// VariantCount is the number of recipients of one variant.
type VariantCount struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// Recipient is one pinned recipient of a campaign.
type Recipient struct {
	CustomerID string `json:"id"`
	Variant    string `json:"v"`
	// SendAt is when the message is due, in Unix seconds (0: at once).
	SendAt int64 `json:"t,omitempty"`
}

// AudiencePlan is an ad audience's membership change.
type AudiencePlan struct {
	Provider string `json:"provider"`
	Funnel   []Step `json:"funnel"`
	Members  int64  `json:"members"`
	Add      int64  `json:"add"`
	Remove   int64  `json:"remove"`
	// AddIDs and RemoveIDs are the pinned membership changes.
	AddIDs    []string `json:"-"`
	RemoveIDs []string `json:"-"`
	// Evaluation says how the segment was evaluated.
	Evaluation string `json:"evaluation,omitempty"`
	// Drift is what the platform said of the audience whose id is in the
	// state; nil when there is no id yet, or the provider cannot tell.
	Drift *Drift `json:"drift,omitempty"`
	// Recreate is set when the platform audience is gone: apply forgets
	// the membership in the state, creates the audience again and uploads
	// every member (AddIDs is all of them, RemoveIDs empty).
	Recreate bool `json:"recreate,omitempty"`
}

// Drift is the platform's side of an ad audience, read by the plan with
// one call to the provider.
type Drift struct {
	// Checked is false when the plan could not ask the platform: no
	// credentials in the environment, or the platform did not answer.
	// NotChecked says why.
	Checked    bool   `json:"checked"`
	NotChecked string `json:"not_checked,omitempty"`
	ProviderID string `json:"provider_id"`
	// Exists tells whether the platform still has the audience; Size is
	// the member count it reports (platforms round it), -1 when it does
	// not say.
	Exists bool  `json:"exists"`
	Size   int64 `json:"size"`
}

// Teardown actions.
const (
	// TeardownDelete deletes the platform audience (for Mailchimp, the
	// tag) through its provider.
	TeardownDelete = "delete"
	// TeardownDetach leaves the platform audience as it is and forgets
	// it: herald has no platform id for it, or its provider block is gone
	// from the configuration too.
	TeardownDetach = "detach"
)

// Teardown is what apply does on the platform for a deleted audience
// block, before the object and its membership leave the state.
type Teardown struct {
	Action     string `json:"action"`             // TeardownDelete or TeardownDetach
	Provider   string `json:"provider,omitempty"` // "google_ads.main"
	ProviderID string `json:"provider_id,omitempty"`
	// What says it for a reviewer: "removes the Customer Match user list
	// on Google Ads", or why the audience is only detached.
	What string `json:"what"`
	// Members is the membership the state forgets.
	Members int64 `json:"members"`
}

// Summary counts what the plan does.
type Summary struct {
	Create          int   `json:"create"`
	Update          int   `json:"update"`
	Delete          int   `json:"delete"`
	Messages        int64 `json:"messages"`
	AudienceChanges int64 `json:"audience_changes"`
	// Unchanged counts the blocks that match the state (no-op).
	Unchanged int `json:"unchanged"`
}

// HasChanges reports whether applying the plan would do anything.
func (s Summary) HasChanges() bool {
	return s.Create+s.Update+s.Delete > 0 || s.Messages > 0 || s.AudienceChanges > 0
}

// Plan is the contract a reviewer approves: the actions, and for each
// campaign the recipients by id.
type Plan struct {
	Version int       `json:"format_version"`
	Created time.Time `json:"created"`
	// Now is the fixed time every expression was evaluated at.
	Now time.Time `json:"now"`
	// ConfigDigest is the SHA-256 of the configuration files and the data
	// files they name, so apply can refuse a plan whose inputs changed.
	ConfigDigest string `json:"config_digest"`
	// Lineage and Serial are the state the plan was made against.
	Lineage string `json:"lineage"`
	Serial  int64  `json:"serial"`
	// Targets and Excludes record -target and -exclude.
	Targets  []string `json:"targets,omitempty"`
	Excludes []string `json:"excludes,omitempty"`

	Changes []*Change `json:"changes"`
	Summary Summary   `json:"summary"`
	// Warnings are things a reviewer should know that do not stop the
	// plan, such as bad rows a source skipped.
	Warnings []string `json:"warnings,omitempty"`
}

// summarize fills p.Summary from p.Changes.
func (p *Plan) summarize() {
	var s Summary
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			s.Create++
		case Update, Sync:
			s.Update++
		case Delete:
			s.Delete++
		case NoOp:
			s.Unchanged++
		}
		c.Summary = headerSummary(c)
		if c.Campaign != nil {
			s.Messages += c.Campaign.Messages()
		}
		if c.Audience != nil {
			s.AudienceChanges += c.Audience.Add + c.Audience.Remove
		}
	}
	p.Summary = s
}
