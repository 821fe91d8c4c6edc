package diag

import (
	"fmt"
	"strings"

	"github.com/agext/levenshtein"
)

// suggestThreshold is the largest edit distance, exclusive, at which a
// candidate is still offered; OpenTofu's didyoumean.NameSuggestion settled
// on 3 by experiment.
const suggestThreshold = 3

// Suggest returns the candidate closest to given by Levenshtein distance,
// or "" when none is close enough to be what the user meant. Case is
// ignored when measuring ("LTV" suggests "ltv"); among equally close
// candidates the first wins. A candidate is close enough when fewer than 3
// edits separate it from given and those edits do not rewrite all of given,
// so that a one- or two-letter name is not "corrected" into an unrelated one.
func Suggest(given string, candidates []string) string {
	if given == "" {
		return ""
	}
	g := strings.ToLower(given)
	limit := min(suggestThreshold, len([]rune(g)))
	best, bestDist := "", limit
	for _, c := range candidates {
		d := levenshtein.Distance(g, strings.ToLower(c), nil)
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// DidYouMean returns ` Did you mean "x"?`, with its leading space, for the
// candidate Suggest picks, or "" when there is none, so that it can be
// appended to a diagnostic's detail unconditionally.
func DidYouMean(given string, candidates []string) string {
	if s := Suggest(given, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}
