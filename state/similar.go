package state

import (
	"sort"
	"strings"

	"github.com/agext/levenshtein"
)

// Similar returns up to three of addresses that look like address: fewer
// than three edits away, starting with it ("campaign.winback" for
// "campaign.winback_dec"), or the same name under another kind
// ("segment.winback" for "campaign.winback"); closest first. It is for
// "no such object; did you mean …" messages.
func Similar(address string, addresses []string) []string {
	_, name, _ := strings.Cut(address, ".")
	type cand struct {
		addr string
		dist int
	}
	var cs []cand
	a := strings.ToLower(address)
	for _, c := range addresses {
		if c == address {
			continue
		}
		d := levenshtein.Distance(a, strings.ToLower(c), nil)
		_, cname, _ := strings.Cut(c, ".")
		prefix := name != "" && strings.HasPrefix(strings.ToLower(c), a)
		if d < 3 || prefix || (name != "" && strings.EqualFold(cname, name)) {
			cs = append(cs, cand{c, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].dist != cs[j].dist {
			return cs[i].dist < cs[j].dist
		}
		return cs[i].addr < cs[j].addr
	})
	var out []string
	for i := 0; i < len(cs) && i < 3; i++ {
		out = append(out, cs[i].addr)
	}
	return out
}
