package planner

// Summarize fills p.Summary, for tests that build a plan by hand.
func Summarize(p *Plan) { p.summarize() }
