package state

import (
	"slices"
	"testing"
)

func TestSimilar(t *testing.T) {
	addrs := []string{"audience.seed", "campaign.winback", "campaign.winback_dec", "segment.winback", "segment.lapsed", "trigger.cart"}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"campaign.winbak", []string{"campaign.winback"}},
		{"campaign.winback_de", []string{"campaign.winback_dec"}},
		{"campaign.lapsed", []string{"segment.lapsed"}},
		{"trigger.winback", []string{"segment.winback", "campaign.winback"}},
		{"nothing.like.it", nil},
		{"Trigger.Cart", []string{"trigger.cart"}},
		{"campaign.winb", []string{"campaign.winback", "campaign.winback_dec"}},
		{"campaign.", nil},
	} {
		if got := Similar(tc.in, addrs); !slices.Equal(got, tc.want) {
			t.Errorf("Similar(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
