package links

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald/lang"
	"github.com/heraldhq/herald/state"
)

// UnsubscribeState is the standard Options.Unsubscribe: it suppresses the
// customer on the campaign's channel (reason "unsubscribe") and appends an
// audit record of kind "unsubscribe". The suppression is how the state
// keeps a consent withdrawal — consent itself comes from the customer's
// own source, which herald does not write — and every plan and every send
// honours it. It is written first, so that a failed audit write, retried,
// never leaves an unsubscribe unenforced.
//
// channelOf names a campaign's channel; when it does not know the campaign
// (removed since the message went out) it returns "", and the customer is
// suppressed on every channel: the recipient asked to hear no more, and
// which channel they meant cannot be told.
func UnsubscribeState(st state.Backend, channelOf func(campaign string) string) func(ctx context.Context, customerID, campaign string) error {
	return func(ctx context.Context, customerID, campaign string) error {
		channel := ""
		if channelOf != nil {
			channel = channelOf(campaign)
		}
		now := time.Now().UTC()
		// AddSuppressions keeps one already there as it is: a repeat
		// changes nothing.
		err := st.AddSuppressions(ctx, []state.Suppression{{CustomerID: customerID, Channel: channel, Reason: "unsubscribe", CreatedAt: now}})
		if err != nil {
			return fmt.Errorf("suppressing: %w", err)
		}
		err = st.AddAudit(ctx, []state.AuditRecord{{At: now, Kind: "unsubscribe", CustomerID: customerID, Subject: campaign, Channel: channel, Detail: "link"}})
		if err != nil {
			return fmt.Errorf("auditing the unsubscribe: %w", err)
		}
		return nil
	}
}

// EngageState is the standard Options.Engage: a click or an open becomes
// an audit record of that kind, naming the customer by id, the campaign,
// its channel and, for a click, the link's host and path. Measurement
// reads them back from the audit trail.
func EngageState(st state.Runtime, channelOf func(campaign string) string) func(ctx context.Context, kind, customerID, campaign, detail string) error {
	return func(ctx context.Context, kind, customerID, campaign, detail string) error {
		channel := ""
		if channelOf != nil {
			channel = channelOf(campaign)
		}
		return st.AddAudit(ctx, []state.AuditRecord{{At: time.Now().UTC(), Kind: kind, CustomerID: customerID, Subject: campaign, Channel: channel, Detail: detail}})
	}
}

// ChannelOf returns a campaign's or trigger's channel by address
// ("campaign.winback", "trigger.cart"), as the configuration has it. A
// trigger whose steps send on more than one channel, and an address the
// configuration does not have, give "": every channel.
func ChannelOf(cfg *lang.Config) func(address string) string {
	return func(address string) string {
		if cfg == nil {
			return ""
		}
		kind, name, _ := strings.Cut(address, ".")
		switch kind {
		case "campaign":
			if c := cfg.Campaigns[name]; c != nil {
				return c.Channel
			}
		case "trigger":
			t := cfg.Triggers[name]
			if t == nil {
				return ""
			}
			channel := ""
			for _, s := range t.Steps {
				if s.Send == nil || s.Send.Template == nil {
					continue
				}
				switch c := s.Send.Template.Channel; {
				case channel == "":
					channel = c
				case c != channel:
					return ""
				}
			}
			return channel
		}
		return ""
	}
}
