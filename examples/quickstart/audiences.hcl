# An ad-platform customer list, kept in sync by diff: each apply adds the
# customers who entered the segment and removes those who left it. Email and
# phone are normalized and SHA-256 hashed before they leave; customers who
# objected to ads are never uploaded.

audience "lapsed_seed" {
  description = "Seed list for a lookalike audience of lapsed high-value customers."
  owner       = "growth@acme-outdoor.example"
  labels      = ["winback", "ads"]

  segment  = segment.lapsed_high_value
  to       = provider.google_ads.main
  match_on = ["email", "phone"]
}
